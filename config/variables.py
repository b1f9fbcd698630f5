"""Every valid ``SWEEPER_*`` variable name, and a warning for each set one that is not.

pydantic-settings ignores a name it does not know (``extra="ignore"``), so a misspelled
``SWEEPER_ENERGY__ITRX__APIKEY`` would silently leave the real setting at its default. The names are
drawn from the settings models themselves, so a new setting is known the moment it exists.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin

from pydantic import BaseModel

PREFIX = "SWEEPER_"
OTHER_NAMES = frozenset(
    {"SWEEPER_FAILPOINTS", "SWEEPER_FAILPOINTS_STATE", "SWEEPER_ENV_FILE", "SWEEPER_DEBUG"}
)
"""Variables read outside the settings models: crash-test failpoints, compose's env file, ``--debug``."""
OTHER_PREFIXES = ("SWEEPER_TEST_",)
"""The test suite's own knobs (ports, hosts of the services it starts)."""


def _model_of(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):  # Model | None; a list of models is one JSON value
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def names_of(model: type[BaseModel], prefix: str = PREFIX) -> Iterator[str]:
    """Every variable a settings model reads: each field, and each nested field with ``__``."""
    for name, field in model.model_fields.items():
        var = f"{prefix}{name.upper()}"
        yield var
        nested = _model_of(field.annotation)
        if nested is not None:
            yield from names_of(nested, f"{var}__")


def env_file_names(path: Path) -> list[str]:
    """The variable names a ``.env`` file sets (``NAME=value`` lines; comments and blanks skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    found = []
    for line in lines:
        text = line.strip().removeprefix("export ").strip()
        if text and not text.startswith("#") and "=" in text:
            found.append(text.split("=", 1)[0].strip())
    return found


def unknown_variables(valid: Iterable[str], names: Iterable[str]) -> list[str]:
    """One warning per ``SWEEPER_*`` name that no setting reads, naming the closest valid one."""
    known = {name.upper() for name in valid} | OTHER_NAMES
    out: list[str] = []
    for name in sorted({n for n in names if n.upper().startswith(PREFIX)}):
        upper = name.upper()
        if upper in known or upper.startswith(OTHER_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, sorted(known - OTHER_NAMES), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; see .env.example for every setting"
        out.append(f"{name} is not a setting and is ignored{hint}")
    return out


def set_names(environ: Mapping[str, str] | None = None, env_file: Path = Path(".env")) -> list[str]:
    """Names set in the environment and in ``.env`` (what pydantic-settings reads)."""
    env = os.environ if environ is None else environ
    return [*env, *env_file_names(env_file)]
