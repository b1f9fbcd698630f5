"""Field types for the sources' settings models, validated exactly like every other ``SWEEPER_*`` setting."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from tronpy.keys import is_base58check_address


def check_address(value: str, what: str = "address") -> str:
    """Return a TRON base58check address unchanged, or raise ValueError naming what it was for."""
    value = value.strip()
    try:
        ok = is_base58check_address(value)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{what} {value!r} is not a valid TRON address (base58check, starts with T)")
    return value


def optional_address(value: str | None) -> str | None:
    """None for an unset or empty setting, else a checked address."""
    if value is None or value == "":
        return None
    return check_address(value)


OptionalAddress = Annotated[str | None, AfterValidator(optional_address)]
"""A wallet address setting that may be unset (``SWEEPER_ENERGY__STAKE__OWNER`` and the like)."""
