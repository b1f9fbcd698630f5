"""Getting one transfer what it needs: quote every source, apply the caps, order once, check, fail over.

Procurement never touches a sweep's row: it answers with a decision — :class:`Ordered` (this quote, under
this number), :class:`Wait` (sources are sick, not unaffordable) or :class:`Exhausted` (nothing fits) —
and the state machine applies it with its own compare-and-set. It does own the order rows: a number is
recorded before a source is called, and what the source answered is stored as soon as it answers.

Failover is a loop over ranked candidates driven by the state machine: a refused order is marked FAILED,
and the next step asks :meth:`Procurement.failover` for the next candidate. An order whose fate is
unknown is never replaced by ordering elsewhere until its deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from sweeper import failpoints
from sweeper.assets import Asset
from sweeper.chain.port import Chain
from sweeper.decisions import Wait
from sweeper.energy.base import EnergySource, foreign_reason
from sweeper.energy.health import CircuitBreaker
from sweeper.errors import (
    ChainUnavailable,
    ForeignOrderNumber,
    LedgerUnavailable,
    PermanentError,
    PolicyRefused,
    SweeperError,
    TransientError,
)
from sweeper.ledger.controls import SpendControls
from sweeper.ledger.records import OrderRecord, OrderRequestStatus, Sweep
from sweeper.ledger.repository import Ledger
from sweeper.models import EnergyOrder, OrderStatus, Quote, ResourceNeed, Resources
from sweeper.policy import Excluded, Exclusion, Ranking, free_bandwidth_wait, percent_cap_sun, rank

log = structlog.get_logger("sweeper.procurement")

ACTIVATION_STEP = "activation"
ENERGY_STEP = "energy"
BANDWIDTH_STEP = "bandwidth"
"""An order for the transfer's bytes; its row's ``energy`` column holds the bytes."""
SICK_WAIT_FACTOR = 10
MISTRUST_READ_S = 5.0
"""How often a worker process reads the ledger's recent charge mismatches (sources no worker may use)."""
"""A sweep whose only candidates are sick waits this many polls before asking again."""
RECLAIM_SETTLE_S = 600.0
"""After this long an order's delegation can no longer land (its transaction expired): nothing to reclaim."""
MAX_BANDWIDTH_WAIT_S = 1800.0
"""A sweep waiting for its free bandwidth looks again at least this often (a source may come back)."""
FOREIGN_COLLISION = "foreign_collision"
"""Detail prefix of an order row whose number named another deployment's (or a restored ledger's) order:
nothing was ordered under it, and its source may be asked again under a fresh number."""
TX_EXPIRY_S = 60.0
"""A transfer signed now may still be mined this long after (its expiration): the energy must outlast it."""

_LEDGER_STATUS = {
    OrderStatus.PENDING: OrderRequestStatus.PENDING,
    OrderStatus.DELIVERED: OrderRequestStatus.DELIVERED,
    OrderStatus.FAILED: OrderRequestStatus.FAILED,
    OrderStatus.UNKNOWN: OrderRequestStatus.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class Caps:
    """The spending limits and timings procurement works within, read once from configuration."""

    max_sun_per_sweep: int = 12_000_000
    max_percent_of_amount: Decimal = Decimal(5)
    poll_seconds: float = 3.0
    order_timeout_seconds: float = 180.0
    max_orders_per_sweep: int = 6


@dataclass(frozen=True, slots=True)
class Ordered:
    """Order ``need`` from ``quote.source`` under ``order_no``: record it, move the sweep, then place it."""

    quote: Quote
    order_no: str
    need: ResourceNeed
    bandwidth: bool = False
    """This order is for the transfer's bytes (``need.required_bandwidth``), not its energy."""

    @property
    def step(self) -> str:
        if self.bandwidth:
            return BANDWIDTH_STEP
        return ACTIVATION_STEP if self.need.activation else ENERGY_STEP

    @property
    def units(self) -> int:
        """What the order asks for: energy, or bytes for a bandwidth order."""
        return self.need.required_bandwidth if self.bandwidth else self.need.energy


@dataclass(frozen=True, slots=True)
class Exhausted:
    """No source can serve the sweep within the caps; ``reason`` is ``fee_cap`` or ``no_energy_source``."""

    reason: str
    detail: str


Choice = Ordered | Wait | Exhausted


class Procurement:
    """Quotes, orders, checks and fails over energy for sweeps; keeps the order rows, never the sweep's."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        chain: Chain,
        sources: Mapping[str, EnergySource],
        breakers: Mapping[str, CircuitBreaker],
        caps: Caps,
        clock: Callable[[], float],
    ) -> None:
        self.ledger = ledger
        self.chain = chain
        self.sources = dict(sources)
        self.breakers = dict(breakers)
        self.caps = caps
        self._clock = clock
        self._mistrust: dict[str, datetime] = {}
        self._mistrust_read_at = float("-inf")

    # -- choosing -----------------------------------------------------------------------------------

    def choose(
        self,
        s: Sweep,
        asset: Asset,
        need: ResourceNeed,
        *,
        amount: int,
        exclude: frozenset[str] = frozenset(),
    ) -> Choice:
        """The cheapest plan the caps allow for ``need`` and its first order, or why none can be had now.

        A plan gets the energy and, when the address cannot pay the transfer's bytes, the bandwidth: from a
        source whose TRX burns for both (burn), or energy from one source and bytes from the cheapest that
        delivers them. Nothing is ordered unless the whole plan fits; the bytes are ordered first (cheap,
        and kept by the address), the energy once they are there.
        """
        if need.bandwidth <= 0 or need.activation:
            ranking = self.rank(s, asset, need, amount=amount, exclude=exclude)
            if ranking.accepted:
                return Ordered(ranking.accepted[0], self._next_number(s), need)
            return self._none_fits(ranking)
        wide = self.rank_bandwidth(s, asset, need, amount=amount, exclude=exclude)
        if need.energy <= 0:
            if wide.accepted:
                return Ordered(wide.accepted[0], self._next_number(s), need, bandwidth=True)
            return self._no_bandwidth(s, need, wide)
        ranking = self.rank(s, asset, need, amount=amount, exclude=exclude)
        plans: list[tuple[int, Quote, Quote | None]] = []
        for energy in ranking.accepted:
            if self._delivers_trx(energy.source):  # its TRX pays the bytes as well
                plans.append((energy.total_sun, energy, None))
            elif wide.accepted:
                total = energy.total_sun + wide.accepted[0].total_sun
                if self._fits(total, asset, amount):
                    plans.append((total, energy, wide.accepted[0]))
        if plans:
            _, energy, bytes_quote = min(plans, key=lambda p: p[0])
            if bytes_quote is not None:
                return Ordered(bytes_quote, self._next_number(s), need, bandwidth=True)
            return Ordered(energy, self._next_number(s), need)
        if not ranking.accepted:
            return self._none_fits(ranking)
        if wide.accepted:  # each fits alone, not both together: the free bytes will, once recovered
            return self._no_bandwidth(s, need, wide, why="energy and bandwidth together exceed the caps")
        return self._no_bandwidth(s, need, wide)

    def rank(
        self,
        s: Sweep,
        asset: Asset,
        need: ResourceNeed,
        *,
        amount: int,
        exclude: frozenset[str] = frozenset(),
    ) -> Ranking:
        """Quote every candidate source and rank the quotes by the caps; exclusions say why, typed."""
        quotes: list[Quote] = []
        excluded: list[Excluded] = []
        for name, source in self.sources.items():
            if name in exclude:
                excluded.append(Excluded(name, Exclusion.ALREADY_TRIED))
            elif need.activation and not source.capabilities.activation:
                excluded.append(Excluded(name, Exclusion.CANNOT_ACTIVATE))
            elif not self._healthy(name):
                excluded.append(Excluded(name, Exclusion.CIRCUIT_OPEN))
            else:
                try:
                    quotes.append(
                        source.quote(s.address, need.energy, to=s.destination, activate=need.activation)
                    )
                except SweeperError as exc:
                    self._unhealthy(name, exc)
                    excluded.append(Excluded(name, _exclusion_for(exc), f"{exc.reason}: {exc}"))
        token = asset.token
        return rank(
            quotes,
            {q.source for q in quotes},
            amount_units=amount,
            token_decimals=token.decimals,
            max_sun_per_sweep=self.caps.max_sun_per_sweep,
            max_percent=self.caps.max_percent_of_amount,
            trx_per_token=asset.trx_per_token,
            excluded=excluded,
            need_energy=need.energy,
            need_seconds=self.caps.order_timeout_seconds + TX_EXPIRY_S,
        )

    def rank_bandwidth(
        self,
        s: Sweep,
        asset: Asset,
        need: ResourceNeed,
        *,
        amount: int,
        exclude: frozenset[str] = frozenset(),
    ) -> Ranking:
        """Quote every source that can deliver the transfer's bytes; rank them by the caps."""
        quotes: list[Quote] = []
        excluded: list[Excluded] = []
        for name, source in self.sources.items():
            if not source.capabilities.bandwidth:
                continue
            if name in exclude:
                excluded.append(Excluded(name, Exclusion.ALREADY_TRIED))
            elif not self._healthy(name):
                excluded.append(Excluded(name, Exclusion.CIRCUIT_OPEN))
            else:
                try:
                    quotes.append(source.quote_bandwidth(s.address, need.required_bandwidth))
                except SweeperError as exc:
                    self._unhealthy(name, exc)
                    excluded.append(Excluded(name, _exclusion_for(exc), f"{exc.reason}: {exc}"))
        return rank(
            quotes,
            {q.source for q in quotes},
            amount_units=amount,
            token_decimals=asset.token.decimals,
            max_sun_per_sweep=self.caps.max_sun_per_sweep,
            max_percent=self.caps.max_percent_of_amount,
            trx_per_token=asset.trx_per_token,
            excluded=excluded,
        )

    def _none_fits(self, ranking: Ranking) -> Choice:
        if ranking.transient:
            sick = sorted({e.source for e in ranking.excluded if e.why.transient})
            return Wait(self._sick_wait, f"{ranking.summary()} (waiting for {', '.join(sick)})")
        return Exhausted("fee_cap" if ranking.over_cap else "no_energy_source", ranking.summary())

    def _no_bandwidth(self, s: Sweep, need: ResourceNeed, ranking: Ranking, *, why: str = "") -> Wait:
        """The bytes cannot be had within the caps: wait for the address's free bandwidth to recover."""
        params = self.chain.chain_parameters()
        free_left = self.chain.resources(s.address).free_bandwidth
        seconds = free_bandwidth_wait(free_left, params.free_net_limit, need.required_bandwidth)
        detail = why or (ranking.summary() if ranking.excluded else "no bandwidth source configured")
        why = (
            f"the address cannot pay {need.required_bandwidth} bytes and none can be had ({detail}); "
            f"its free bandwidth recovers enough in about {seconds:.0f} s"
        )
        return Wait(min(max(seconds, self.caps.poll_seconds), MAX_BANDWIDTH_WAIT_S), why)

    def _fits(self, total: int, asset: Asset, amount: int) -> bool:
        if total > self.caps.max_sun_per_sweep:
            return False
        cap = percent_cap_sun(
            amount, asset.token.decimals, self.caps.max_percent_of_amount, asset.trx_per_token
        )
        return cap is None or total <= cap

    def failover(self, s: Sweep, asset: Asset, need: ResourceNeed) -> Choice:
        """The next source after a failed order: untried ones first, then all again, within the budget."""
        orders = self.ledger.orders_for_sweep(s.id)
        over_budget = len(orders) >= self.caps.max_orders_per_sweep
        tried = (
            frozenset(self.sources)
            if over_budget
            else frozenset(o.source for o in orders if not (o.detail or "").startswith(FOREIGN_COLLISION))
        )
        choice = self.choose(s, asset, need, amount=s.amount, exclude=tried)
        if isinstance(choice, Exhausted) and not over_budget:
            # Every source was tried once; ask them all again (breakers still keep sick ones out).
            choice = self.choose(s, asset, need, amount=s.amount)
        if isinstance(choice, Exhausted) and not over_budget and self._any_circuit_open():
            return Wait(self._sick_wait, "sources are sick, not unaffordable")
        return choice

    NEVER_SENT = "never sent: the sweep did not move to this order before a crash"

    def void_unsent(self, s: Sweep) -> None:
        """Close order rows a crash left behind before the sweep moved to them.

        A source is only called after the sweep's row names the order (compare-and-set), so a REQUESTED
        order the sweep does not name was never sent: mark it FAILED rather than leave it looking live.
        Judged by the ledger against the sweep row as it is then, not against ``s``, which may be stale.
        A sweep with no order rows at all (every first order) has nothing to close: one read, no write.
        """
        if self.ledger.count_orders(s.id):
            self.ledger.void_unnamed_orders(s.id, self.NEVER_SENT)

    def record(self, s: Sweep, ordered: Ordered) -> OrderRecord:
        """Store the order number before anything can call the source with it."""
        return self.ledger.record_order_request(
            s.id,
            ordered.step,
            ordered.quote.source,
            ordered.order_no,
            ordered.units,
            quoted_sun=ordered.quote.total_sun,
        )

    # -- placing and checking -----------------------------------------------------------------------

    def place(self, s: Sweep, record: OrderRecord) -> bool:
        """Call the source for ``record`` (idempotent by our number); False if it refused (order FAILED)."""
        source = self.sources.get(record.source)
        if source is None:
            raise PermanentError(
                f"energy source {record.source} is no longer configured", reason="source_gone"
            )
        try:
            if record.step == BANDWIDTH_STEP:
                order = source.order_bandwidth(record.order_no, s.address, record.energy)
            else:
                order = source.order(
                    record.order_no,
                    s.address,
                    record.energy,
                    to=s.destination,
                    activate=record.step == ACTIVATION_STEP,
                )
        except (ChainUnavailable, LedgerUnavailable):
            raise  # our own side is down: the order stays REQUESTED and is asked again, idempotently
        except ForeignOrderNumber as exc:
            self._collision(s, record, str(exc))
            return False
        except SweeperError as exc:
            # The source answered (or was never reached): no order exists under this number.
            self._unhealthy(record.source, exc)
            self._fail(record, f"{exc.reason}: {exc}", refused=True)
            log.warning("energy.refused", sweep_id=s.id, source=record.source, reason=exc.reason)
            return False
        failpoints.hit(failpoints.AFTER_ORDER_SENT)
        if order.found:
            why = foreign_reason(order, s.address, None, record.created_at.timestamp())
            if why:
                self._collision(s, record, f"{record.source}: order {record.order_no} is not ours: {why}")
                return False
        self._store(record, order)
        return True

    def _collision(self, s: Sweep, record: OrderRecord, why: str) -> None:
        """Our number names someone else's order: record it (nothing was ordered) and move on to a new one."""
        self._fail(record, f"{FOREIGN_COLLISION}: {why}", refused=True)
        log.warning("energy.foreign_order", sweep_id=s.id, source=record.source, order_no=record.order_no)

    def check(self, s: Sweep, record: OrderRecord) -> str | None:
        """Ask the source about a live order; the reason it failed or timed out, or None while pending."""
        if record.status in (OrderRequestStatus.PENDING, OrderRequestStatus.UNKNOWN):
            source = self.sources.get(record.source)
            current = None
            if source is not None:
                try:
                    current = source.status(order_of(record, s.address))
                except SweeperError:
                    current = None
            if current is not None:
                self._store(record, current)
                if current.status is OrderStatus.FAILED:
                    return f"the source reports failure: {current.detail}"
        age = self._clock() - record.created_at.timestamp()
        if age > self.caps.order_timeout_seconds:
            self._fail(record, "no energy on chain before the deadline")
            self._unhealthy(record.source, None)
            return "no energy on chain before the deadline"
        return None

    def delivered(
        self, s: Sweep, record: OrderRecord, have: Resources, required_energy: int | None = None
    ) -> bool:
        """True once what the order was for is on the address (energy delegated, TRX to burn, or the
        bytes payable); records it, with what the order finally cost.

        ``required_energy`` is the transfer's need as measured now, when it has fallen since the order
        (the recipient started holding the token): what is on chain is then enough.
        """
        source = self.sources.get(record.source)
        if record.step == BANDWIDTH_STEP:
            fee = self.chain.chain_parameters().transaction_fee
            if not have.pays_bytes(record.energy, sun_per_byte=fee):
                return False
        else:
            needed = s.energy_needed or 0
            if required_energy is not None:
                needed = min(needed, required_energy) if needed else required_energy
            shortfall = needed - have.energy
            if shortfall > 0 and (
                source is None
                or not source.capabilities.delivers_trx
                or not source.covers(s.address, shortfall)
            ):
                return False
        if record.status is not OrderRequestStatus.DELIVERED:
            # Even an order given up on at its deadline: its energy arrived late, and it is what was paid for.
            final = None
            if source is not None:
                try:
                    final = source.status(order_of(record, s.address))
                except SweeperError:
                    final = None
            cost = None
            if final is not None:
                cost = final.net_cost_sun if final.refunded_sun else (final.cost_sun or None)
            self.ledger.update_order(
                record.source,
                record.order_no,
                status=OrderRequestStatus.DELIVERED,
                cost_sun=cost,
                refunded_sun=(final.refunded_sun or None) if final is not None else None,
            )
        self._healthy_again(record.source)
        return True

    # -- after the sweep ----------------------------------------------------------------------------

    def reclaim(self, s: Sweep) -> None:
        """Take back the stake a sweep's orders delegated, once it has ended (sources declaring ``reclaim``).

        Every order that may have delegated is asked, whatever its status (a timed-out delegation may have
        landed). An order is marked reclaimed once taken back, or once nothing is delegated and nothing
        can still land; anything else is asked again by :meth:`reclaim_ended` (reconcile).
        """
        for record in self.ledger.orders_for_sweep(s.id):
            if record.reclaimed_at is None and record.refused_at is None:
                self._reclaim(record, s.address)

    def reclaim_ended(self, ledger: Ledger, limit: int = 100) -> int:
        """Reclaim for ended sweeps whose stake is not known to be back; how many orders were settled."""
        names = [name for name, source in self.sources.items() if source.capabilities.reclaim]
        settled = 0
        for record in SpendControls(ledger).unreclaimed_orders(names, limit):
            sweep = ledger.get_sweep(record.sweep_id)
            if sweep is not None and self._reclaim(record, sweep.address):
                settled += 1
        return settled

    def _reclaim(self, record: OrderRecord, address: str) -> bool:
        source = self.sources.get(record.source)
        if source is None or not source.capabilities.reclaim:
            return False
        try:
            txid = source.reclaim(order_of(record, address))
        except SweeperError as exc:  # a failed reclaim costs opportunity, never funds: asked again later
            log.warning("stake.reclaim_failed", sweep_id=record.sweep_id, error=exc.reason)
            return False
        final = record.status in (OrderRequestStatus.DELIVERED, OrderRequestStatus.FAILED)
        old = self._clock() - record.created_at.timestamp() > RECLAIM_SETTLE_S
        if txid is None and not (final or old):
            return False  # nothing delegated yet, but the delegation may still land
        SpendControls(self.ledger).mark_reclaimed(record.source, record.order_no)
        log.info("stake.reclaimed", sweep_id=record.sweep_id, order_no=record.order_no, txid=txid)
        return True

    def trx_sent(self, s: Sweep) -> int:
        """Sun that ``delivers_trx`` sources (burn) sent to the sweep's address for it."""
        return sum(
            o.cost_sun or 0
            for o in self.ledger.orders_for_sweep(s.id)
            if self._delivers_trx(o.source) and o.refused_at is None
        )

    def cost(self, s: Sweep, fee_sun: int) -> int:
        """TRX that left the exchange's wallets for the sweep (docs/ARCHITECTURE.md §8.3).

        Every order's ``cost_sun`` is what it took out: a provider's charge, or what our own wallet sent
        plus the fees its transaction burned (activation, bytes). TRX a ``delivers_trx`` source put on the
        address is what the transfer then burns, so the transfer's own fees (``fee_sun`` and those of
        earlier attempts) count only beyond it; what it sent and the transfer did not burn stays counted
        (it is swept back only by a leftover-TRX sweep, whose amount shows it).
        """
        orders = self.ledger.orders_for_sweep(s.id)
        taken = sum(o.cost_sun or 0 for o in orders)
        sent = sum(self._sent(o, s.address) for o in orders if self._delivers_trx(o.source))
        burned = sum(t.fee_sun or 0 for t in self.ledger.txs_for_sweep(s.id) if t.txid != s.txid)
        return taken + max(0, burned + fee_sun - sent)

    def _sent(self, record: OrderRecord, address: str) -> int:
        """TRX a ``delivers_trx`` order put on the address (what its source reports, else its cost)."""
        source = self.sources.get(record.source)
        if source is None or record.status is not OrderRequestStatus.DELIVERED:
            return 0
        try:
            found = source.lookup(record.order_no)
        except SweeperError:
            found = None
        return found.delivered_sun if found is not None else (record.cost_sun or 0)

    # -- helpers ------------------------------------------------------------------------------------

    def _next_number(self, s: Sweep) -> str:
        """``sw<deployment>s<sweep>a<attempt>o<n>``: at most 32 letters and digits (docs/PROVIDERS.md §5)."""
        n = self.ledger.count_orders(s.id) + 1
        return f"sw{self.ledger.deployment_id()}s{s.id}a{s.attempt}o{n}"

    @property
    def _sick_wait(self) -> float:
        return self.caps.poll_seconds * SICK_WAIT_FACTOR

    def _store(self, record: OrderRecord, order: EnergyOrder) -> None:
        """What the source said: status, its id, and the cost net of any refund (charged - refunded)."""
        if order.charge_mismatch and not record.charge_mismatch:
            breaker = self.breakers.get(record.source)
            if breaker is not None:
                breaker.trip()
            log.warning(
                "energy.charge_mismatch",
                source=record.source,
                order_no=record.order_no,
                charged_sun=order.cost_sun,
                quoted_sun=record.quoted_sun,
            )
        self.ledger.update_order(
            record.source,
            record.order_no,
            status=_LEDGER_STATUS[order.status],
            provider_order_id=order.provider_order_id,
            cost_sun=order.net_cost_sun if order.refunded_sun else (order.cost_sun or None),
            detail=order.detail or None,
            refunded_sun=order.refunded_sun or None,
            charge_mismatch=True if order.charge_mismatch else None,
        )

    def _fail(self, record: OrderRecord, detail: str, *, refused: bool = False) -> None:
        self.ledger.update_order(
            record.source, record.order_no, status=OrderRequestStatus.FAILED, detail=detail, refused=refused
        )

    def _delivers_trx(self, name: str) -> bool:
        source = self.sources.get(name)
        return source is not None and source.capabilities.delivers_trx

    def _any_circuit_open(self) -> bool:
        return any(not self._healthy(name) for name in self.breakers)

    def _healthy(self, name: str) -> bool:
        breaker = self.breakers.get(name)
        if breaker is None:
            return True
        if not breaker.healthy:
            return False
        mismatch = self._mistrusted().get(name)
        return mismatch is None or self._clock() - mismatch.timestamp() >= breaker.reset_seconds

    def _mistrusted(self) -> dict[str, datetime]:
        """Sources that charged far from their quotes lately, by any worker (the ledger's record),
        read at most every ``MISTRUST_READ_S``."""
        now = time.monotonic()
        if now >= self._mistrust_read_at + MISTRUST_READ_S:
            longest = max((b.reset_seconds for b in self.breakers.values()), default=0.0)
            since = datetime.fromtimestamp(self._clock() - longest, tz=UTC)
            self._mistrust = self.ledger.charge_mismatches_since(since)
            self._mistrust_read_at = now
        return self._mistrust

    def _unhealthy(self, name: str, exc: SweeperError | None) -> None:
        breaker = self.breakers.get(name)
        if breaker is not None and (exc is None or isinstance(exc, TransientError)):
            breaker.record_failure(exc)

    def _healthy_again(self, name: str) -> None:
        breaker = self.breakers.get(name)
        if breaker is not None:
            breaker.record_success()


def _exclusion_for(exc: SweeperError) -> Exclusion:
    if isinstance(exc, TransientError):
        return Exclusion.UNAVAILABLE
    if isinstance(exc, PolicyRefused):
        return Exclusion.OVER_SOURCE_CAP
    return Exclusion.REFUSED


def order_of(record: OrderRecord, address: str) -> EnergyOrder:
    """The order a ledger row stands for, as a source expects it back."""
    return EnergyOrder(
        source=record.source,
        order_no=record.order_no,
        receive_address=address,
        energy=record.energy,
        status=OrderStatus.PENDING,
        provider_order_id=record.provider_order_id,
        cost_sun=record.cost_sun or 0,
    )
