"""Spend guards: nothing is paid for a sweep that cannot finish, and nothing beyond the budgets.

The state machine asks these questions at the points where money could go out, and turns the answers
into its own decisions (a sweep that cannot finish FAILS having paid nothing; a held sweep waits):

- **May this address be swept at all?** (:meth:`Guards.refuses_to_open`) Never one of our own wallets
  (destinations, gas wallet, stake owner: sweeping them into themselves pays energy forever), and not
  while it is quarantined after a failure, until an operator releases it.
- **Can this sweep finish?** (:meth:`Guards.preflight`, before the first order) The address has a signer
  that can sign (the signer service answers an authenticated can-sign probe; nothing is signed), and the
  destination is the configured one and not the address itself.
- **May it spend now?** (:meth:`Guards.gate` before quoting, :meth:`Guards.admit` with the quote,
  :meth:`Guards.paused` right before the paid call) Not while the operator's kill switch is on; not
  past the sweep's order budget (all attempts together), the address's orders per window, or the
  deployment's sun per hour. Each crossing is recorded once in the ledger and logged as one loud line.
- **May it start now?** (:meth:`Guards.queue`, in the gate of a first order) Not while as many sweeps
  as ``sweeps_in_flight`` are between their first order and their broadcast: a backlog queues unpaid
  instead of renting energy that lapses before the fleet reaches it.

Concurrency: budgets are read, not reserved, so workers deciding at the same instant can overshoot a
budget by at most one order each; the kill switch is read again right before every paid call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from sweeper.assets import Asset, Refusal
from sweeper.decisions import Wait
from sweeper.errors import SignerRejected, UnknownKey
from sweeper.keys.keyring import Keyring
from sweeper.ledger.controls import SpendControls
from sweeper.ledger.records import Sweep
from sweeper.ledger.repository import Ledger
from sweeper.models import IN_FLIGHT_STATES

log = structlog.get_logger("sweeper.guards")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_S = 3600.0
MAX_HOLD_S = 3600.0
"""A held sweep looks again at least this often, so a raised budget takes effect within the hour."""
QUEUE_S_PER_WAITING = 0.2
"""A sweep queued at the in-flight cap looks again after this much longer per sweep waiting: each
sweep that leaves flight wakes the oldest queued one, so the timed look is only the fallback, and a
backlog of 10,000 costs a few tasks a second rather than thousands."""


@dataclass(frozen=True, slots=True)
class Budgets:
    """Spending limits that hold whatever the quotes say (``SWEEPER_BUDGET__*``)."""

    orders_per_sweep: int = 6
    """Orders one sweep may place over all its attempts (``sweeper retry`` included)."""
    orders_per_address: int = 12
    """Orders one deposit address may place within ``address_window_seconds`` (over all its sweeps)."""
    address_window_seconds: float = 86_400.0
    sun_per_hour: int = 2_000_000_000
    """Sun the whole deployment may spend on energy in any hour; 0 for no such limit."""
    sweeps_in_flight: int = 500
    """Sweeps that may be between their first order and their broadcast at once; 0 for no limit.

    Rented energy lapses (a 1H rental is taken back after the hour): a fleet that orders for every
    deposit of a backlog at once pays for energy it reaches only after it is gone, and pays again.
    """


class Guards:
    """The spend guards over one ledger and keyring; pure domain, no configuration reads."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        keyring: Keyring,
        budgets: Budgets,
        own_wallets: Collection[str],
        hold_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.controls = SpendControls(ledger)
        self.ledger = ledger
        self.keyring = keyring
        self.budgets = budgets
        self.own_wallets = frozenset(own_wallets)
        self.hold_seconds = hold_seconds
        self._clock = clock

    # -- opening ------------------------------------------------------------------------------------

    def refuses_to_open(self, address: str, *, quarantine: bool = True) -> str | None:
        """Why no sweep may be opened for ``address`` now, or None."""
        if address in self.own_wallets:
            return f"{address} is one of our own wallets (a destination, the gas wallet or the stake owner)"
        if quarantine:
            held = self.controls.quarantined(address)
            if held is not None:
                return (
                    f"{address} is quarantined since sweep {held.sweep_id} failed ({held.reason}); "
                    "`sweeper release` lets it be swept again"
                )
        return None

    # -- can the sweep finish? ----------------------------------------------------------------------

    def preflight(self, s: Sweep, asset: Asset) -> Refusal | None:
        """Why this sweep could not finish (so nothing may be paid for it), or None.

        A signer that cannot be reached now (``SignerUnavailable``) is raised: the step is retried later.
        """
        if s.address in self.own_wallets:
            return Refusal("own_wallet", f"{s.address} is one of our own wallets and is never swept")
        if asset.destination != s.destination:
            return Refusal(
                "destination_mismatch",
                f"sweep destination {s.destination} is not the configured {asset.destination}",
            )
        if s.destination == s.address:
            return Refusal("own_wallet", f"{s.address} would be swept into itself")
        try:
            signer = self.keyring.signer_for(s.address)
            if signer.address != s.address:
                return Refusal("unknown_key", f"the keyring answered for {s.address} with {signer.address}")
            signer.probe()
        except UnknownKey as exc:
            return Refusal("unknown_key", f"no signer for {s.address} ({exc}); nothing was ordered")
        except SignerRejected as exc:
            return Refusal("signer_rejected", f"the signer refused the probe for {s.address} ({exc})")
        return None

    # -- may it spend now? --------------------------------------------------------------------------

    def paused(self) -> Wait | None:
        """The kill switch: a Wait while the operator has paused spending."""
        state = self.controls.pause_state()
        if not state.paused:
            return None
        note = f": {state.note}" if state.note else ""
        return Wait(self.hold_seconds, f"spending is paused by the operator{note} (`sweeper resume`)")

    def gate(self, s: Sweep) -> Wait | Refusal | None:
        """Before asking for quotes: the kill switch and every order budget; None when it may order."""
        held = self.paused()
        if held is not None:
            return held
        b = self.budgets
        used = self.ledger.count_orders(s.id)
        if used >= b.orders_per_sweep:
            self._crossed("orders_per_sweep", f"sweep:{s.id}", EPOCH, used, b.orders_per_sweep)
            return Refusal(
                "order_budget",
                f"sweep {s.id} has placed {used} orders, its whole budget "
                f"(SWEEPER_BUDGET__ORDERS_PER_SWEEP={b.orders_per_sweep}); nothing more is ordered for it",
            )
        now = self._now()
        window = timedelta(seconds=b.address_window_seconds)
        count, oldest = self.controls.address_orders_since(s.address, now - window)
        if count >= b.orders_per_address:
            start = _window_start(now, b.address_window_seconds)
            self._crossed("orders_per_address", s.address, start, count, b.orders_per_address)
            frees = (oldest + window - now).total_seconds() if oldest is not None else self.hold_seconds
            return Wait(
                min(MAX_HOLD_S, max(self.hold_seconds, frees)),
                f"{s.address} placed {count} orders in {b.address_window_seconds:.0f} s, its budget "
                f"(SWEEPER_BUDGET__ORDERS_PER_ADDRESS={b.orders_per_address}): its spending is paused",
            )
        if s.state not in IN_FLIGHT_STATES:  # a failover or top-up finishes what is already paid for
            queued = self.queue(s)
            if queued is not None:
                return queued
        return self.admit(s, 0)

    def queue(self, s: Sweep) -> Wait | None:
        """Admission: no first order while ``sweeps_in_flight`` sweeps are between order and broadcast.

        Read, not reserved (like the budgets): workers admitting at the same instant pass the cap by at
        most one sweep each. Not a crossing: a queue is the fleet working at its pace, not a spend alarm.
        """
        cap = self.budgets.sweeps_in_flight
        if not cap:
            return None
        flying, waiting = self.ledger.flight()
        if flying < cap:
            return None
        log.info("sweep.queued", sweep_id=s.id, in_flight=flying, cap=cap, waiting=waiting)
        return Wait(
            min(MAX_HOLD_S, self.hold_seconds + QUEUE_S_PER_WAITING * waiting),
            f"{flying} sweeps are between order and broadcast, the cap "
            f"(SWEEPER_BUDGET__SWEEPS_IN_FLIGHT={cap}): queued until one of them is sent",
        )

    def admit(self, s: Sweep, sun: int) -> Wait | None:
        """With a quote in hand: would ``sun`` more cross the deployment's hourly budget?"""
        limit = self.budgets.sun_per_hour
        if not limit:
            return None
        now = self._now()
        spent = self.controls.spent_since(now - timedelta(seconds=HOUR_S))
        over = spent + sun > limit if sun else spent >= limit
        if not over:
            return None
        self._crossed("sun_per_hour", "deployment", _window_start(now, HOUR_S), spent + sun, limit)
        return Wait(
            max(self.hold_seconds, 60.0),
            f"energy spend in the last hour {spent} sun (+{sun}) would pass the budget "
            f"(SWEEPER_BUDGET__SUN_PER_HOUR={limit}): all spending is paused",
        )

    # -- helpers ------------------------------------------------------------------------------------

    def _crossed(self, budget: str, scope: str, window_start: datetime, used: int, allowed: int) -> None:
        if self.controls.record_crossing(budget, scope, window_start, used, allowed):
            log.error(
                "budget.crossed",
                budget=budget,
                scope=scope,
                used=used,
                allowed=allowed,
                detail=f"SPENDING PAUSED: {budget} budget crossed for {scope} ({used} of {allowed})",
            )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)


def _window_start(now: datetime, seconds: float) -> datetime:
    """The start of the fixed window of ``seconds`` that ``now`` falls in (the crossing's report key)."""
    stamp = now.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=UTC)
