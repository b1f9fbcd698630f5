"""Order bookkeeping and the block-driven lifecycle every simulated provider shares.

An order is paid when accepted, delegates real energy from the provider's pool `delay_blocks` blocks
later, is active once that delegation is mined, and is reclaimed when its (time-scaled) period ends:

    paid ──delay──> delegating ──mined──> active ──period over / early reclaim──> reclaimed
      ├──delay──> done (activation-only orders)
      └──────────── failed (forced outcome or the chain refused; the account is refunded)

Providers translate these neutral states into their own status words and numbers. `OrderDesk` is what
each of them keeps (chain, faults, pool, account, book) and how each books a paid order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devnet.providers.common import Account
    from devnet.providers.registry import SimulatorContext

log = logging.getLogger("devnet.providers")

PAID, DELEGATING, ACTIVE, RECLAIMED, FAILED = "paid", "delegating", "active", "reclaimed", "failed"
RETRYING, PARTIAL = "retrying", "partial"  # itrx 32 (error, retrying) and 31 (part of the energy delegated)
IN_PROGRESS_OUTCOMES = frozenset({RETRYING, PARTIAL})
"""Forced outcomes that only slow an order down: it still completes (``Switches.order_outcome``)."""
RETRY_BLOCKS = 3
"""Blocks an order forced to ``retrying`` waits before it delegates, and a ``partial`` one before the rest."""
DONE = "done"  # an activation-only order, complete once its activation transfer is mined
FINAL = frozenset({RECLAIMED, FAILED, DONE})


@dataclass
class Order:
    """One provider order; `ref` is the client's own number (out_trade_no, outTradeNo, external_id)."""

    id: str
    receiver: str
    energy: int
    period: str
    period_s: float
    cost: int
    deliver_at: int
    ref: str | None = None
    kind: str = "energy"
    state: str = PAID
    created: float = field(default_factory=time.time)
    activation_txid: str = ""
    delegate_txid: str = ""
    delegate_block: int = 0
    delegated_at: float | None = None
    reclaim_due: float | None = None
    reclaim_txid: str = ""
    reclaimed_at: float | None = None
    refund: int = 0
    fail_reason: str = ""
    forced_outcome: str | None = None
    energy_after: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Order], None]


class OrderBook:
    """All orders of one provider, with the `chain.on_block` hook that moves them along.

    `on_change(order)` is called (outside the book's lock) after every state change, so the provider
    can refund, send callbacks or log. `early_reclaim(order)` may ask for an active order to be
    reclaimed before its period ends (itrx reclaims fully consumed 1H delegations).
    """

    def __init__(
        self,
        chain: Any,
        pool: str,
        *,
        on_change: Listener | None = None,
        early_reclaim: Callable[[Order], bool] | None = None,
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.lock = threading.RLock()
        # Blocks may be produced from two threads (the producer and an admin `produce`); one step at
        # a time keeps an order from being delegated or reclaimed twice.
        self._step = threading.Lock()
        self._by_id: dict[str, Order] = {}
        self._by_ref: dict[str, list[Order]] = {}
        self._open: dict[str, Order] = {}
        self._on_change = on_change
        self._early_reclaim = early_reclaim
        chain.on_block(self.on_block)

    def add(self, order: Order) -> None:
        with self.lock:
            self._by_id[order.id] = order
            if order.ref:
                self._by_ref.setdefault(order.ref, []).append(order)
            if order.state not in FINAL:
                self._open[order.id] = order

    def get(self, order_id: str) -> Order | None:
        with self.lock:
            return self._by_id.get(order_id)

    def by_ref(self, ref: str) -> list[Order]:
        """Every order placed with this client reference, oldest first (a reference may repeat)."""
        with self.lock:
            return list(self._by_ref.get(ref, ()))

    def all(self) -> list[Order]:
        with self.lock:
            return list(self._by_id.values())

    def fail(self, order: Order, reason: str) -> None:
        """Mark an order failed now (e.g. its activation could not be sent) and notify."""
        with self.lock:
            order.state, order.fail_reason = FAILED, reason
            order.refund = order.cost
            self._open.pop(order.id, None)
        self._notify(order)

    def reclaim(self, order: Order) -> bool:
        """Undelegate an active order's energy now; False when it is not active."""
        with self._step:
            if order.state != ACTIVE:
                return False
            self._undelegate(order)
            return True

    def on_block(self, number: int) -> None:
        """Advance every open order; never raises into the chain's block producer."""
        with self.lock:
            open_orders = list(self._open.values())
        now = time.time()
        with self._step:
            for order in open_orders:
                try:
                    self._advance(order, number, now)
                except Exception:  # a provider bug must not stop block production
                    log.exception("provider order %s failed to advance", order.id)

    def _advance(self, order: Order, number: int, now: float) -> None:
        retried = order.state == RETRYING and number >= order.delegate_block + RETRY_BLOCKS
        if (order.state == PAID and number >= order.deliver_at) or retried:
            self._delegate(order, number)
        elif order.state == PARTIAL and number >= order.delegate_block + RETRY_BLOCKS:
            self._delegate_rest(order, number)
        elif order.state == DELEGATING and number > order.delegate_block:
            with self.lock:
                order.state, order.delegated_at = ACTIVE, now
                order.reclaim_due = now + order.period_s
                order.energy_after = self.chain.energy_available(order.receiver)
            self._notify(order)
        elif order.state == ACTIVE:
            due = order.reclaim_due is not None and now >= order.reclaim_due
            if due or (self._early_reclaim is not None and self._early_reclaim(order)):
                self._undelegate(order)

    def _delegate(self, order: Order, number: int) -> None:
        if order.forced_outcome == RETRYING and order.state == PAID:
            with self.lock:  # a hiccup at the provider: it retries, then delegates as usual
                order.state, order.delegate_block = RETRYING, number
            self._notify(order)
            return
        if order.forced_outcome and order.forced_outcome not in IN_PROGRESS_OUTCOMES:
            self._finish_failed(order, f"forced outcome: {order.forced_outcome}")
            return
        if order.kind == "activation":  # nothing to delegate: done once the activation is mined
            with self.lock:
                order.state, order.delegated_at = DONE, time.time()
                self._open.pop(order.id, None)
            self._notify(order)
            return
        partial = order.forced_outcome == PARTIAL
        first = order.energy // 2 if partial else order.energy
        try:
            txid = self.chain.delegate_energy(self.pool, order.receiver, first)
        except Exception as exc:  # noqa: BLE001 - any ChainError: receiver not activated, pool short …
            self._finish_failed(order, str(exc) or type(exc).__name__)
            return
        with self.lock:
            order.state, order.delegate_txid, order.delegate_block = (
                PARTIAL if partial else DELEGATING,
                txid,
                number,
            )
            if partial:
                order.extra["rest"] = order.energy - first
        self._notify(order)

    def _delegate_rest(self, order: Order, number: int) -> None:
        """The second half of a ``partial`` order: the order then completes like any other."""
        self._delegating(
            order,
            number,
            lambda: self.chain.delegate_energy(self.pool, order.receiver, int(order.extra.pop("rest"))),
        )

    def _delegating(self, order: Order, number: int, send: Callable[[], str]) -> None:
        """Send the order's delegation (``send`` returns its txid): delegating from this block, or failed
        (and refunded) when the chain refuses it."""
        try:
            txid = send()
        except Exception as exc:  # noqa: BLE001 - as in _delegate
            self._finish_failed(order, str(exc) or type(exc).__name__)
            return
        with self.lock:
            order.state, order.delegate_txid, order.delegate_block = DELEGATING, txid, number
        self._notify(order)

    def _undelegate(self, order: Order) -> None:
        try:
            txid = self.chain.undelegate_energy(self.pool, order.receiver, order.energy)
        except Exception as exc:  # noqa: BLE001 - a failed reclaim is logged, the order still ends
            log.warning("reclaim of provider order %s failed: %s", order.id, exc)
            txid = ""
        with self.lock:
            if order.state != ACTIVE:
                return
            order.state, order.reclaim_txid, order.reclaimed_at = RECLAIMED, txid, time.time()
            self._open.pop(order.id, None)
        self._notify(order)

    def _finish_failed(self, order: Order, reason: str) -> None:
        with self.lock:
            order.state, order.fail_reason, order.refund = FAILED, reason, order.cost
            self._open.pop(order.id, None)
        self._notify(order)

    def _notify(self, order: Order) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(order)
        except Exception:
            log.exception("provider listener failed for order %s", order.id)


class OrderDesk:
    """What every simulated provider keeps and does with an order: its chain, faults, pool, account, book.

    ``accept`` books a paid order the one way every provider does; a failed order is refunded
    (``_changed``, which a provider extends to call back or to note the refund).
    """

    def __init__(
        self,
        context: SimulatorContext,
        account: Account,
        *,
        book: Callable[..., OrderBook] = OrderBook,
        early_reclaim: Callable[[Order], bool] | None = None,
    ) -> None:
        self.chain, self.faults, self.pool = context.chain, context.faults, context.pool
        self.delay_blocks, self.time_scale = context.delay_blocks, context.time_scale
        self.account = account
        self.book = book(context.chain, context.pool, on_change=self._changed, early_reclaim=early_reclaim)

    def short_of(self, energy: int, free: int | None = None) -> bool:
        """The faults force insufficient resources (one use spent), or the pool has less than ``energy`` free
        (``free``: what it has of the resource ordered, energy by default)."""
        if self.faults.take_insufficient():
            return True
        return energy > (self.chain.energy_available(self.pool) if free is None else free)

    def accept(
        self,
        order_id: str,
        receiver: str,
        energy: int,
        *,
        period: str,
        period_s: float,
        cost: int,
        ref: str | None = None,
        kind: str = "energy",
        activation_sun: int = 0,
        extra: dict[str, Any] | None = None,
    ) -> Order:
        """Book a paid order, delivered ``delay_blocks`` blocks from now unless the faults force its outcome
        (one use spent). ``activation_sun`` is first sent from the pool to activate the receiver; the account
        is charged ``cost`` (a bandwidth order's amount is bytes, not energy)."""
        order = Order(
            id=order_id,
            receiver=receiver,
            energy=energy,
            period=period,
            period_s=period_s,
            cost=cost,
            deliver_at=self.chain.head_number() + max(1, self.delay_blocks),
            ref=ref,
            kind=kind,
            forced_outcome=self.faults.take_outcome(),
            extra=extra if extra is not None else {},
        )
        if activation_sun:
            order.activation_txid = self.chain.transfer_trx(self.pool, receiver, activation_sun)
        self.account.debit(cost, 0 if kind == "bandwidth" else energy)
        self.book.add(order)
        return order

    def _changed(self, order: Order) -> None:
        if order.state == FAILED:
            self.account.refund(order.refund)
