"""The state machine's paid steps: the decisions that name an order, place it once, ask again, fail over.

Kept apart from ``sweeper.flow`` so each paid path reads in one place: every one goes through the spend
guards, names its order with a compare-and-set move before anything is stored or sent, and calls a
source only after that move won (see ``_order``).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from sweeper.assets import Asset, AssetBook, Refusal
from sweeper.chain.port import Chain
from sweeper.decisions import Decision, Move, Proceed, Wait
from sweeper.flow_config import FlowConfig
from sweeper.guards import Guards
from sweeper.ledger.records import OrderRecord, OrderRequestStatus, Sweep
from sweeper.ledger.repository import Ledger
from sweeper.models import ResourceNeed, SweepState
from sweeper.pace import DeliveryPace
from sweeper.procurement import Choice, Exhausted, Ordered, Procurement

log = structlog.get_logger("sweeper.flow")


class Ordering:
    """Energy and bandwidth decisions for one :class:`~sweeper.flow.Flow`; touches sweeps only through
    the moves it returns, which the machine applies."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        chain: Chain,
        assets: AssetBook,
        procurement: Procurement,
        guards: Guards,
        config: FlowConfig,
        clock: Callable[[], float],
    ) -> None:
        self.ledger = ledger
        self.chain = chain
        self.assets = assets
        self.procurement = procurement
        self.guards = guards
        self.config = config
        self.clock = clock
        ceiling = min(config.order_timeout_seconds / 4, config.poll_seconds * 10)
        self.pace = DeliveryPace(floor=config.poll_seconds, ceiling=ceiling)
        """When each source's orders have lately been seen delivered: the first look after one comes then."""

    def _order(self, s: Sweep, ordered: Ordered, *, amount: int) -> Move:
        """Move the sweep to name the order; only if that move won, store the order and call the source.

        A worker that loses the race records nothing, so no order row is ever left looking live.
        """
        quote, need = ordered.quote, ordered.need
        state = SweepState.ACTIVATING if need.activation else SweepState.ENERGY_ORDERED
        fields = {
            "energy_source": quote.source,
            "order_no": ordered.order_no,
            "amount": amount,
            "energy_needed": need.required_energy,
        }
        what = (
            f"{need.required_bandwidth} bytes of bandwidth" if ordered.bandwidth else f"{need.energy} energy"
        )
        note = f"ordering {what} from {quote.source} ({quote.total_sun} sun quoted)"
        return Move(state, note, fields=fields, then=lambda: self._first_place(s, state, ordered))

    def _first_place(self, s: Sweep, state: SweepState, ordered: Ordered) -> Decision:
        """Store the order, then take the sweep's version once more before calling the source.

        The move that named the order won at ``s.version``. A worker whose address lock was taken may
        read the sweep before the order row exists, conclude it was never stored, and move on to another
        order; this second compare-and-set (on the version our move produced) lets exactly one of the
        two go on to a paid call, and the loser's row is closed as never sent.
        """
        record = self.procurement.record(s, ordered)
        if not self.ledger.update_fields(
            s.id, state, expected_version=s.version + 1, order_no=ordered.order_no
        ):
            self.ledger.update_order(
                record.source,
                record.order_no,
                status=OrderRequestStatus.FAILED,
                from_status=OrderRequestStatus.REQUESTED,
                detail="never sent: another worker moved the sweep before this order was placed",
                refused=True,
            )
            log.info("energy.order_dropped", sweep_id=s.id, order_no=record.order_no)
            return Proceed("another worker moved the sweep before this order was placed")
        return self._place(s, record)

    def ask_again(self, s: Sweep, record: OrderRecord) -> Decision:
        """Call the source again for an order whose call may or may not have reached it.

        Ordering is idempotent by our number only where the source can look it up or refuses a reused
        number; whether itrx and TronZap refuse one is undocumented (docs/PROVIDERS.md OQ-I2, OQ-Z2). So a
        REQUESTED order is left alone while a worker may still be calling (a lost lock lets a second worker
        in), and then only the worker whose claim on the order row wins calls again.
        """
        age = self.clock() - record.updated_at.timestamp()
        if age < self.config.order_claim_seconds:
            wait = min(self.config.poll_seconds, self.config.order_claim_seconds - age)
            return Wait(max(wait, 0.1), "the order may be being placed right now")
        if not self.ledger.claim_order(record):
            return Proceed("another worker claimed the order")
        return Proceed("asking the source again", then=lambda: self._place(s, record))

    def _place(self, s: Sweep, record: OrderRecord) -> Decision:
        paused = self.guards.paused()
        if paused is not None:  # read again right before the paid call: the kill switch acts at once
            log.info("energy.held", sweep_id=s.id, order_no=record.order_no, why=paused.why)
            return paused  # the order stays REQUESTED and is asked for once spending resumes
        log.info("energy.ordering", sweep_id=s.id, source=record.source, order_no=record.order_no)
        if self.procurement.place(s, record):
            return Wait(self.pace.first_look(record.source, record.step))
        return Proceed("the source refused: fail over")

    def failover(self, s: Sweep, why: str) -> Decision:
        """Order from the next source; a sweep never orders twice from a source that failed it."""
        log.warning("energy.failover", sweep_id=s.id, source=s.energy_source, why=why)
        asset = self.assets.get(s.token_contract)
        need = asset.need(self.chain, s.address, s.amount)
        if need.nothing:
            return Move(SweepState.ENERGY_READY, "energy on chain after all")
        held = self.guards.gate(s)
        if held is not None:
            return held if isinstance(held, Wait) else self.unpaid_failure(s, held)
        self.procurement.void_unsent(s)
        choice = self.procurement.failover(s, asset, need)

        def exhausted(e: Exhausted) -> Move:
            cost = self.procurement.cost(s, 0)
            why = f"no energy source left: no energy source fits: {e.detail}"
            return Move(SweepState.FAILED, why, reason="no_energy_source", fields={"cost_sun": cost})

        return self.procure(s, choice, s.amount, exhausted)

    def procure(
        self, s: Sweep, choice: Choice, amount: int, exhausted: Callable[[Exhausted], Decision]
    ) -> Decision:
        if isinstance(choice, Ordered):
            held = self.guards.admit(s, choice.quote.total_sun)
            return held if held is not None else self._order(s, choice, amount=amount)
        if isinstance(choice, Wait):
            log.warning("energy.sources_unavailable", sweep_id=s.id, detail=choice.why)
            return choice
        return exhausted(choice)

    def unpaid_failure(self, s: Sweep, why: Refusal) -> Move:
        """FAILED before anything (more) is paid: the sweep could not finish, or used its budget."""
        log.warning("sweep.refused_spend", sweep_id=s.id, reason=why.slug, detail=why.why)
        cost = self.procurement.cost(s, 0)
        return Move(SweepState.FAILED, why.why, reason=why.slug, fields={"cost_sun": cost})

    def top_up(self, s: Sweep, asset: Asset, need: ResourceNeed, balance: int) -> Decision:
        """Order what the transfer still lacks right before signing (or wait for it), like at detection;
        ``need`` is the fresh measurement, with the margin on what is ordered."""
        choice = self.procurement.choose(s, asset, need, amount=balance)
        return self.procure(s, choice, balance, lambda e: self._stranded(s, e))

    def bandwidth_refused(self, s: Sweep) -> Decision:
        """``BANDWITH_ERROR`` at broadcast: nothing was sent; get the bytes, then resend the same bytes."""
        asset = self.assets.get(s.token_contract)
        need = asset.need(self.chain, s.address, s.amount, fresh=True)
        if need.bandwidth <= 0:
            return Wait(self.config.poll_seconds, "the node refused for bandwidth; the pending pool holds it")
        choice = self.procurement.choose(s, asset, need, amount=s.amount)
        return self.procure(s, choice, s.amount, lambda e: self._stranded(s, e))

    def _stranded(self, s: Sweep, e: Exhausted) -> Decision:
        """Nothing fits for the last missing resource: wait (prices and bandwidth recover), never fail."""
        log.warning("sweep.resources_short", sweep_id=s.id, detail=e.detail)
        return Wait(
            self.config.poll_seconds * 10, f"no source fits for what the transfer still lacks: {e.detail}"
        )
