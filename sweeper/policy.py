"""Pure cost decisions for a sweep's energy: how much to buy, and which quotes the fee caps allow.

The two fee caps are compared in sun:

* ``max_sun_per_sweep`` is already in sun;
* ``max_percent`` of the swept amount is converted with ``trx_per_token``, the configured price of one
  whole token in TRX (USDT is about 3 to 4 TRX). A token amount and a sun amount have no common unit without a
  price, and the price is an operator's input, not a provider answer. Without a price the percent cap is
  not applied and only the absolute cap protects the sweep.

All arithmetic is exact (ints and Fractions); a cap is rounded down, so it is never exceeded. Why a
source was left out is a typed :class:`Exclusion`, so callers decide by kind, never by message text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from sweeper.errors import NoSourceFits
from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, ENERGY_TRANSFER_TO_NEW_HOLDER, SUN_PER_TRX, Quote

__all__ = [
    "Excluded",
    "Exclusion",
    "NoSourceFits",
    "Ranking",
    "choose_source",
    "duration_seconds",
    "energy_needed",
    "free_bandwidth_wait",
    "percent_cap_sun",
    "rank",
]


class Exclusion(StrEnum):
    """Why a source was not a candidate for a sweep."""

    ALREADY_TRIED = "already tried for this sweep"
    CANNOT_ACTIVATE = "cannot activate an address"
    CIRCUIT_OPEN = "circuit open (recent failures)"
    UNAVAILABLE = "unavailable right now"
    REFUSED = "refused to quote"
    OVER_SWEEP_CAP = "over the cap per sweep"
    OVER_PERCENT_CAP = "over the percent-of-amount cap"
    OVER_SOURCE_CAP = "over the source's own cap"
    TOO_LITTLE_ENERGY = "quotes less energy than the sweep needs"
    TOO_SHORT = "rents the energy for less time than the sweep needs"

    @property
    def transient(self) -> bool:
        """The source could serve the sweep, but fails only for now: wait for it."""
        return self in (Exclusion.CIRCUIT_OPEN, Exclusion.UNAVAILABLE)

    @property
    def cap(self) -> bool:
        """A fee cap, not the source, said no."""
        return self in (Exclusion.OVER_SWEEP_CAP, Exclusion.OVER_PERCENT_CAP, Exclusion.OVER_SOURCE_CAP)


@dataclass(frozen=True, slots=True)
class Excluded:
    """One source left out, the typed reason, and a sentence for people."""

    source: str
    why: Exclusion
    detail: str = ""

    def __str__(self) -> str:
        return self.detail or self.why.value


@dataclass(frozen=True, slots=True)
class Ranking:
    """The quotes the caps allow, cheapest first, and every source left out with its reason."""

    accepted: tuple[Quote, ...]
    excluded: tuple[Excluded, ...]

    @property
    def transient(self) -> bool:
        """Some excluded source is only failing for now."""
        return any(e.why.transient for e in self.excluded)

    @property
    def over_cap(self) -> bool:
        """A fee cap refused a source, or there was no source at all."""
        return not self.excluded or any(e.why.cap for e in self.excluded)

    def summary(self) -> str:
        return "; ".join(f"{e.source}: {e}" for e in self.excluded) or "no source configured"


def energy_needed(to_holds_token: bool, margin: int, available: int) -> int:
    """Energy to obtain for one transfer: what it burns plus the margin, less what the address already has."""
    base = ENERGY_TRANSFER_TO_HOLDER if to_holds_token else ENERGY_TRANSFER_TO_NEW_HOLDER
    return max(0, base + max(0, margin) - max(0, available))


BANDWIDTH_WINDOW_S = 24 * 3600
"""java-tron recovers bandwidth usage linearly over a 24 h window (docs/TRON.md §5)."""


def free_bandwidth_wait(free_left: int, free_limit: int, size: int) -> float:
    """Seconds until an address's free bandwidth covers ``size`` bytes again (0 if it does now).

    Usage ``U = limit - left`` decays linearly to zero over the window; the bytes fit once
    ``U(t) <= limit - size``, i.e. after ``window * (1 - (limit - size) / U)``. Never, if the day's
    allowance itself is smaller than the transaction.
    """
    if free_left >= size:
        return 0.0
    if free_limit < size:
        return float(BANDWIDTH_WINDOW_S)
    used = free_limit - free_left
    return BANDWIDTH_WINDOW_S * (1 - (free_limit - size) / used)


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


_DURATION_UNITS = {"H": 3600, "D": 86_400, "M": 60}


def duration_seconds(duration: str) -> float | None:
    """Seconds a quote's rental lasts (``1H``, ``24H``, ``3D``…); None when it does not end by itself
    (burnt TRX, our own stake until reclaimed) or the text is not a period."""
    text = duration.strip().upper()
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in _DURATION_UNITS:
        return float(int(text[:-1]) * _DURATION_UNITS[text[-1]])
    return None


def short_of_need(quote: Quote, need_energy: int, need_seconds: float) -> Excluded | None:
    """Why ``quote`` cannot serve the need (too little energy, too short a rental), or None if it can."""
    if need_energy > 0 and quote.energy < need_energy:
        detail = f"quotes {quote.energy} energy, the sweep needs {need_energy}"
        return Excluded(quote.source, Exclusion.TOO_LITTLE_ENERGY, detail)
    seconds = duration_seconds(quote.duration)
    if need_seconds > 0 and seconds is not None and seconds < need_seconds:
        detail = f"rents for {seconds:.0f} s ({quote.duration}), the sweep needs {need_seconds:.0f} s"
        return Excluded(quote.source, Exclusion.TOO_SHORT, detail)
    return None


def _trx(sun: int) -> str:
    return f"{Decimal(sun) / SUN_PER_TRX:f} TRX"


def rank(
    quotes: Iterable[Quote],
    healthy: Collection[str],
    *,
    amount_units: int,
    token_decimals: int = 6,
    max_sun_per_sweep: int,
    max_percent: Decimal | float | str,
    trx_per_token: Decimal | str | None = None,
    excluded: Iterable[Excluded] = (),
    need_energy: int = 0,
    need_seconds: float = 0.0,
) -> Ranking:
    """Acceptable quotes, cheapest first (ties keep the configured preference order of ``quotes``).

    ``excluded`` names sources left out before quoting (and why), so the ranking accounts for every source.
    A quote for less than ``need_energy`` or a rental shorter than ``need_seconds`` never fits, however
    cheap: it would stall the sweep until the order deadline.
    """
    out = list(excluded)
    pct_cap = percent_cap_sun(amount_units, token_decimals, max_percent, trx_per_token)
    accepted: list[Quote] = []
    for quote in quotes:
        total = quote.total_sun
        short = short_of_need(quote, need_energy, need_seconds)
        if short is not None:
            out.append(short)
        elif quote.source not in healthy:
            out.append(Excluded(quote.source, Exclusion.CIRCUIT_OPEN))
        elif total > max_sun_per_sweep:
            detail = f"{_trx(total)} exceeds the cap of {_trx(max_sun_per_sweep)} per sweep"
            out.append(Excluded(quote.source, Exclusion.OVER_SWEEP_CAP, detail))
        elif pct_cap is not None and total > pct_cap:
            detail = f"{_trx(total)} exceeds {max_percent}% of the swept amount ({_trx(pct_cap)})"
            out.append(Excluded(quote.source, Exclusion.OVER_PERCENT_CAP, detail))
        else:
            accepted.append(quote)
    return Ranking(tuple(sorted(accepted, key=lambda q: q.total_sun)), tuple(out))


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
    need_energy: int = 0,
    need_seconds: float = 0.0,
) -> list[Quote]:
    """:func:`rank`'s accepted quotes, or :class:`NoSourceFits` naming every source and why.

    ``failed`` names sources whose quote could not be had, and why, so the refusal names every source.
    """
    before = [Excluded(name, Exclusion.REFUSED, why) for name, why in (failed or {}).items()]
    ranking = rank(
        quotes,
        healthy,
        amount_units=amount_units,
        token_decimals=token_decimals,
        max_sun_per_sweep=max_sun_per_sweep,
        max_percent=max_percent,
        trx_per_token=trx_per_token,
        excluded=before,
        need_energy=need_energy,
        need_seconds=need_seconds,
    )
    if not ranking.accepted:
        raise NoSourceFits({e.source: str(e) for e in ranking.excluded})
    return list(ranking.accepted)
