"""Find every secret in a settings object, so none has to be listed by hand for the log redactor."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr


def find_secrets(value: Any) -> list[str]:
    """The values of every ``SecretStr`` (and ``SecretBytes``) reachable from ``value``, each once.

    Walks model fields (declared and extra), nested models, and the items of lists, tuples, sets and
    mappings, so a secret added to any settings model, however deep, is found without further code.
    """
    found: dict[str, None] = {}
    for secret in _walk(value, set()):
        found.setdefault(secret, None)
    return list(found)


def _walk(value: Any, seen: set[int]) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode("utf-8", errors="replace")
    elif isinstance(value, BaseModel | Mapping | list | tuple | set | frozenset):
        if id(value) in seen:
            return
        seen.add(id(value))
        for item in _children(value):
            yield from _walk(item, seen)


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield getattr(value, name)
        yield from (value.model_extra or {}).values()
    elif isinstance(value, Mapping):
        yield from value.values()
    else:
        yield from value
