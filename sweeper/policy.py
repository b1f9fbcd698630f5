"""Pure cost decisions for a sweep's energy: how much to buy, from whom, and what to do when a source fails.

The two fee caps (DESIGN §4) are compared in sun:

* ``max_sun_per_sweep`` is already in sun;
* ``max_percent`` of the swept amount is converted with ``trx_per_token``, the configured price of one
  whole token in TRX (USDT is about 3 to 4 TRX). A token amount and a sun amount have no common unit without a
  price, and the price is an operator's input, not a provider answer. Without a price the percent cap is
  not applied and only the absolute cap protects the sweep.

All arithmetic is exact (ints and Fractions); a cap is rounded down, so it is never exceeded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from sweeper.energy.base import OrderOutcomeUnknown
from sweeper.errors import (
    ChainRejected,
    DuplicateOrderNumber,
    PolicyRefused,
    ProviderError,
    ProviderUnavailable,
    SweeperError,
    TransientError,
)
from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, ENERGY_TRANSFER_TO_NEW_HOLDER, SUN_PER_TRX, Quote

T = TypeVar("T")


class NoSourceFits(PolicyRefused):
    """Raised when every energy source was excluded; ``exclusions`` says why, per source."""

    reason = "no_source_fits"

    def __init__(self, exclusions: Mapping[str, str]) -> None:
        self.exclusions = dict(exclusions)
        detail = (
            "; ".join(f"{name}: {why}" for name, why in self.exclusions.items()) or "no source configured"
        )
        super().__init__(f"no energy source fits: {detail}")


def energy_needed(to_holds_token: bool, margin: int, available: int) -> int:
    """Energy to obtain for one transfer: what it burns plus the margin, less what the address already has."""
    base = ENERGY_TRANSFER_TO_HOLDER if to_holds_token else ENERGY_TRANSFER_TO_NEW_HOLDER
    return max(0, base + max(0, margin) - max(0, available))


def percent_cap_sun(
    amount_units: int,
    token_decimals: int,
    max_percent: Decimal | float | str,
    trx_per_token: Decimal | str | None,
) -> int | None:
    """``max_percent`` of the swept amount, in sun at ``trx_per_token``; None when no price is configured."""
    if trx_per_token is None:
        return None
    percent = Fraction(Decimal(str(max_percent)))
    price = Fraction(Decimal(str(trx_per_token)))
    value = Fraction(amount_units, 10**token_decimals) * price * SUN_PER_TRX * percent / 100
    return int(value)  # Fraction → int truncates toward zero: the cap rounds down


def _trx(sun: int) -> str:
    return f"{Decimal(sun) / SUN_PER_TRX:f} TRX"


def choose_source(
    quotes: Iterable[Quote],
    healthy: Collection[str],
    *,
    amount_units: int,
    token_decimals: int = 6,
    max_sun_per_sweep: int,
    max_percent: Decimal | float | str,
    trx_per_token: Decimal | str | None = None,
    failed: Mapping[str, str] | None = None,
) -> list[Quote]:
    """Acceptable quotes, cheapest first (ties keep the configured preference order), or NoSourceFits.

    ``quotes`` come in preference order; ``failed`` names sources whose quote could not be had, and why,
    so the refusal names every source.
    """
    exclusions: dict[str, str] = dict(failed or {})
    pct_cap = percent_cap_sun(amount_units, token_decimals, max_percent, trx_per_token)
    accepted: list[Quote] = []
    for quote in quotes:
        total = quote.total_sun
        if quote.source not in healthy:
            exclusions[quote.source] = "circuit open (recent failures)"
        elif total > max_sun_per_sweep:
            exclusions[quote.source] = f"{_trx(total)} exceeds the cap of {_trx(max_sun_per_sweep)} per sweep"
        elif pct_cap is not None and total > pct_cap:
            exclusions[quote.source] = (
                f"{_trx(total)} exceeds {max_percent}% of the swept amount ({_trx(pct_cap)})"
            )
        else:
            accepted.append(quote)
    if not accepted:
        raise NoSourceFits(exclusions)
    return sorted(accepted, key=lambda q: q.total_sun)


# Failures that end the whole attempt: the order may exist, or no source can help.
_STOP = (OrderOutcomeUnknown, DuplicateOrderNumber)
# Failures after which the next source may be tried.
_NEXT = (TransientError, ProviderError, PolicyRefused, ChainRejected)


def failover(
    candidates: Sequence[Quote],
    attempt: Callable[[Quote], T],
    *,
    on_failure: Callable[[Quote, SweeperError], None] | None = None,
    on_success: Callable[[Quote], None] | None = None,
) -> T:
    """Try ``attempt`` on each quote in turn; stop at the first success.

    An unknown order outcome is re-raised at once: the order may exist, and ordering elsewhere could buy
    the energy twice. If every source fails, a transient failure among them makes the result transient
    (:class:`ProviderUnavailable`); otherwise :class:`NoSourceFits` names each source's error.
    """
    errors: dict[str, SweeperError] = {}
    for quote in candidates:
        try:
            result = attempt(quote)
        except _STOP:
            raise
        except _NEXT as exc:
            errors[quote.source] = exc
            if on_failure is not None:
                on_failure(quote, exc)
            continue
        if on_success is not None:
            on_success(quote)
        return result
    summary = {name: f"{exc.reason}: {exc}" for name, exc in errors.items()}
    if any(isinstance(exc, TransientError) for exc in errors.values()):
        detail = "; ".join(f"{name}: {why}" for name, why in summary.items())
        raise ProviderUnavailable(f"every energy source failed: {detail}", reason="all_sources_failed")
    raise NoSourceFits(summary)
