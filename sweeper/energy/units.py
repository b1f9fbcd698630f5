"""TRX decimal amounts (as TronZap reports them) to integer sun, exactly, via Decimal; answers' times."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from sweeper.errors import ProviderError
from sweeper.models import SUN_PER_TRX

SUN = Decimal(SUN_PER_TRX)


def to_decimal(value: object) -> Decimal:
    """A JSON number or numeric string as Decimal; floats go through ``str`` so no binary error leaks in."""
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not an amount: {value!r}") from None
    else:
        raise ValueError(f"not an amount: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return result


def trx_to_sun(value: object) -> int:
    """Exact sun for a TRX amount; raises ValueError if it has more than six decimals or is negative."""
    sun = to_decimal(value) * SUN
    if sun != sun.to_integral_value() or sun < 0:
        raise ValueError(f"{value!r} TRX is not a whole, non-negative number of sun")
    return int(sun)


def trx_to_sun_ceil(value: object) -> int:
    """Sun for a derived TRX figure (a price times an amount), rounded up so a cost is never understated."""
    sun = to_decimal(value) * SUN
    if sun < 0:
        raise ValueError(f"{value!r} TRX is negative")
    return int(sun.to_integral_value(rounding=ROUND_CEILING))


def answer_sun(provider: str, value: object) -> int:
    """A TRX amount from ``provider``'s answer as exact sun; one finer than a sun is a malformed answer."""
    try:
        return trx_to_sun(value)
    except ValueError as exc:
        raise ProviderError(f"{provider}: {exc}", reason="malformed_answer") from None


def iso_seconds(value: object, zone: tzinfo = UTC) -> float | None:
    """ISO 8601 (``Z``, an offset, or none: ``zone``) as Unix seconds; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).timestamp()
