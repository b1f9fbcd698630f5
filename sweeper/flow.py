"""The sweep state machine: ``advance(sweep_id)`` performs one safe step at a time.

Each state has one handler. A handler reads the chain and the ledger and returns a decision — move to a
state, wait, or go on — and the machine applies it with one compare-and-set on the version the decision
was made on. A foreign call that costs money (placing an order) runs only after the move that names it
won. Running ``advance`` twice, or on two workers at once, is harmless: the address lock serialises
workers, and a lost race turns a move into a no-op.

    DETECTED ─► ACTIVATING ─► ENERGY_ORDERED ─► ENERGY_READY ─► SIGNED ─► BROADCAST ─► CONFIRMED
        └─► SKIPPED                                   ▲                       │
                                                      └────── expired ────────┘   any ─► FAILED
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from sweeper import failpoints
from sweeper.assets import Asset, AssetBook, Refusal
from sweeper.chain.intent import for_sweep
from sweeper.chain.port import Chain
from sweeper.decisions import Decision, Move, Proceed, Step, Wait, skip
from sweeper.energy.base import EnergySource
from sweeper.energy.health import CircuitBreaker
from sweeper.energy.journal import provably_dead
from sweeper.errors import AmountOutOfRange, PermanentError, TransientError, UnknownSweep
from sweeper.flow_config import FlowConfig
from sweeper.guards import Guards
from sweeper.keys.keyring import Keyring
from sweeper.ledger.records import OrderRecord, OrderRequestStatus, Sweep, TxKind, TxStatus
from sweeper.ledger.repository import Ledger
from sweeper.locks import AddressLocks, LocalLocks
from sweeper.models import (
    IN_FLIGHT_STATES,
    TERMINAL_STATES,
    UINT256_MAX,
    BroadcastOutcome,
    Resources,
    SignedTx,
    SweepState,
)
from sweeper.ordering import Ordering
from sweeper.procurement import Procurement

__all__ = ["AddressLocks", "Decision", "Flow", "FlowConfig", "LocalLocks", "Move", "Proceed", "Step", "Wait"]

log = structlog.get_logger("sweeper.flow")

MAX_LEDGER_AMOUNT = UINT256_MAX
"""The largest amount the ledger stores: any TRC20 balance (uint256, NUMERIC(78,0) in the ledger)."""
UNPROVEN_WAIT_S = 600.0
"""A SUCCESS receipt without the expected Transfer log is looked at (and reported) this often."""
CHAIN_WAIT_CAP_S = 90.0
"""The longest a sweep sleeps on the chain's pace before it looks again (mainnet's 19 blocks take ~57 s)."""
UNSEEN_WAIT_CAP_S = 30.0
"""Just sent and not seen mined yet, a sweep looks again within this long: half the 60 s a transfer lives
(``sweeper.chain.tron.EXPIRATION_MS``), so bytes a node dropped are sent again while they can be mined."""


SIGNED_STATES = frozenset({SweepState.SIGNED, SweepState.BROADCAST})
"""States whose transfer is signed: a later deposit is not in it, and is swept once it is confirmed."""


class SweepAddresses:
    """Each open sweep's address, as this process last read it: the address lock is taken before the
    sweep is read, and the address is one of the fields no change may touch (``MUTABLE_SWEEP_FIELDS``).
    Bounded: the oldest entries go first, and an ended sweep's entry is dropped."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._known: dict[int, str] = {}
        self._guard = threading.Lock()

    def get(self, sweep_id: int) -> str | None:
        return self._known.get(sweep_id)

    def put(self, sweep_id: int, address: str) -> str:
        with self._guard:
            if len(self._known) >= self.LIMIT:
                del self._known[next(iter(self._known))]
            self._known[sweep_id] = address
        return address

    def drop(self, sweep_id: int) -> None:
        with self._guard:
            self._known.pop(sweep_id, None)

    def __len__(self) -> int:
        return len(self._known)


class Flow:
    """Drives sweeps through the state machine; pure domain: no Celery, no configuration reads."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        chain: Chain,
        sources: Mapping[str, EnergySource],
        keyring: Keyring,
        config: FlowConfig,
        locks: AddressLocks | None = None,
        breakers: Mapping[str, CircuitBreaker] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.chain = chain
        self.keyring = keyring
        self.config = config
        self.locks: AddressLocks = locks or LocalLocks()
        self.clock = clock
        policy = config.energy
        if config.energy_margin:
            policy = dataclasses.replace(policy, margin=policy.margin + config.energy_margin)
        self.assets = AssetBook.build(
            config.tokens, config.destinations, config.trx_per_token, config.leftover_trx_min_sun, policy
        )
        self.procurement = Procurement(
            ledger=ledger,
            chain=chain,
            sources=sources,
            breakers=breakers or {},
            caps=config.caps,
            clock=lambda: self.clock(),  # noqa: PLW0108 - tests and chaos runs swap the clock later
        )
        self.guards = Guards(
            ledger=ledger,
            keyring=keyring,
            budgets=config.budgets,
            own_wallets=set(config.destinations.values()) | config.own_wallets,
            hold_seconds=config.poll_seconds * 10,
            clock=lambda: self.clock(),  # noqa: PLW0108 - as above
        )
        self.ordering = Ordering(
            ledger=ledger,
            chain=chain,
            assets=self.assets,
            procurement=self.procurement,
            guards=self.guards,
            config=config,
            clock=lambda: self.clock(),  # noqa: PLW0108 - as above
        )
        self._read = threading.local()
        """What this call of ``advance`` read of the address (``_just_read``), per thread."""
        self._addresses = SweepAddresses()
        self._handlers: dict[SweepState, Callable[[Sweep], Decision]] = {
            SweepState.DETECTED: self._detected,
            SweepState.ACTIVATING: self._waiting_for_energy,
            SweepState.ENERGY_ORDERED: self._waiting_for_energy,
            SweepState.ENERGY_READY: self._energy_ready,
            SweepState.SIGNED: self._signed,
            SweepState.BROADCAST: self._broadcast,
        }

    # -- entry points -------------------------------------------------------------------------------

    def detect(
        self,
        address: str,
        contract: str,
        *,
        block: int | None = None,
        record_dust: bool = False,
        quarantined_too: bool = False,
    ) -> Sweep | None:
        """Open a sweep if ``address`` is watched and holds at least the asset's minimum; idempotent.

        With ``record_dust`` (a deposit was seen, or an operator asked), a balance below the minimum is
        recorded as a sweep that the next step skips with its reason, so nothing seen goes unexplained.
        Never for one of our own wallets, nor for a quarantined address unless ``quarantined_too``.
        """
        refused = self.guards.refuses_to_open(address, quarantine=not quarantined_too)
        if refused is not None:
            log.info("sweep.not_opened", address=address, token=contract, why=refused)
            return None
        asset = self.assets.get(contract)
        balance = self._balance(asset, address)
        if balance <= 0 or (balance < asset.token.min_amount and not record_dust):
            return None
        sweep = self.ledger.open_sweep(
            address, asset.token, balance, asset.destination, self.config.dry_run, detected_block=block
        )
        if sweep is not None and sweep.state in SIGNED_STATES and balance > sweep.amount:
            # Not folded silently: the signed transfer moves what was there; the rest is swept after it.
            self.ledger.note(
                sweep.id,
                sweep.state,
                "deposit_after_signing",
                {"balance": balance, "signed_amount": sweep.amount, "block": block},
            )
            log.info("deposit.after_signing", sweep_id=sweep.id, address=address, balance=balance)
        if sweep is not None and sweep.is_open:
            self._addresses.put(sweep.id, sweep.address)
        return sweep

    def advance(self, sweep_id: int) -> Step:
        """Perform the next safe steps of one sweep until it has to wait; never blocks on the chain.

        A sweep that leaves flight here (sent or ended) wakes the oldest one queued at the in-flight
        cap (``Guards.queue``): the step's ``opened`` names it, so the task layer starts it now.
        """
        address = self._addresses.get(sweep_id)
        if address is None:
            # The lock is per address; a sweep's address never changes, so it is read once per process.
            sweep = self._sweep(sweep_id)
            if not sweep.is_open:
                return Step(sweep_id, sweep.state, None, sweep.reason or "", began=sweep.state)
            address = self._addresses.put(sweep_id, sweep.address)
        step = self._advance(sweep_id, address)
        if step.state in TERMINAL_STATES:
            self._addresses.drop(sweep_id)
        capped = self.guards.budgets.sweeps_in_flight > 0
        if capped and step.began in IN_FLIGHT_STATES and step.state not in IN_FLIGHT_STATES:
            woken = self.ledger.release_held(1)
            if woken:
                step = dataclasses.replace(step, opened=(*step.opened, *woken))
        return step

    def _advance(self, sweep_id: int, address: str) -> Step:
        """The steps under the address lock; the step says which state the first read found."""
        self._read.account = self._read.signed = None
        with self.locks.hold(address):
            first = self._sweep(sweep_id)
            return dataclasses.replace(self._steps(first), began=first.state)

    def _steps(self, sweep: Sweep) -> Step:
        """Take the next safe steps from ``sweep`` as read under the lock, until one has to wait.

        A move answers with the row it left, so the next step starts from that instead of reading the
        sweep again; whatever else may have changed the row (a lost race, a step after the move, a
        failure) makes the next step read it.
        """
        sweep_id = sweep.id
        known: Sweep | None = sweep
        for _ in range(self.config.max_steps_per_call):
            sweep = known if known is not None else self._sweep(sweep_id)
            if not sweep.is_open:
                return Step(sweep_id, sweep.state, None, sweep.reason or "", self._opened_after(sweep))
            try:
                with for_sweep(sweep.id):  # the signer's audit line names the sweep
                    wait, known = self._apply(sweep, self._handlers[sweep.state](sweep))
            except PermanentError as exc:
                current = self._sweep(sweep_id)
                wait, known = (None, None)
                if current.is_open:
                    wait, known = self._apply(current, self._failure(current, exc))
            if wait is not None:
                # Scheduling the next look says whether there is one: None when the sweep has ended.
                state = self.ledger.set_next_check(sweep_id, self._at(wait))
                if state is not None:
                    return Step(sweep_id, state, wait)
                current = self._sweep(sweep_id)
                return Step(sweep_id, current.state, None, opened=self._opened_after(current))
        current = self._sweep(sweep_id)
        return Step(sweep_id, current.state, 0.0 if current.is_open else None)

    def retry(self, sweep_id: int, *, skipped: bool = False) -> bool:
        """Re-open a FAILED sweep (or, with ``skipped``, a SKIPPED one) as a new attempt (`sweeper retry`).

        A compare-and-set: False when the sweep is not in that state. A re-opened SKIPPED sweep goes
        through every check again, so one skipped by a fee cap that was since raised can now be paid.
        """
        self._sweep(sweep_id)
        state = SweepState.SKIPPED if skipped else SweepState.FAILED
        return self.ledger.reopen(sweep_id, state=state)

    # -- the machine --------------------------------------------------------------------------------

    def _apply(self, s: Sweep, decision: Decision) -> tuple[float | None, Sweep | None]:
        """Carry out one decision: seconds to wait (None: take the next step now), and the sweep as the
        decision left it when that is known for sure (None: read it again)."""
        if isinstance(decision, Wait):
            return decision.seconds, s  # a plain wait moved nothing
        if isinstance(decision, Proceed):
            return (self._apply(s, decision.then())[0], None) if decision.then is not None else (None, None)
        moved = self._move(s, decision)
        if moved is None:
            log.info("sweep.lost_race", sweep_id=s.id, state=s.state.value, version=s.version, to=decision.to)
            return None, None  # lost a race: the next step re-reads the sweep
        if decision.to in TERMINAL_STATES:
            self._ended(s, decision.to)
        if decision.then is None:
            return None, moved
        # What follows the move may change the row again; an ended sweep stays ended.
        return self._apply(s, decision.then())[0], moved if not moved.is_open else None

    def _move(self, s: Sweep, m: Move) -> Sweep | None:
        if m.to is s.state:
            return self.ledger.set_fields(s.id, s.state, expected_version=s.version, **m.fields)
        moved = self.ledger.move(
            s.id,
            s.state,
            m.to,
            reason=f"{m.reason}: {m.note}" if m.reason else None,
            note=m.note,
            expected_version=s.version,
            **m.fields,
        )
        if moved is not None:
            log.info("sweep.transition", sweep_id=s.id, address=s.address, frm=s.state, to=m.to, note=m.note)
        return moved

    def _failure(self, s: Sweep, exc: PermanentError) -> Move:
        log.warning("sweep.failed", sweep_id=s.id, state=s.state.value, error=exc.reason, detail=str(exc))
        cost = self.procurement.cost(s, 0)
        return Move(SweepState.FAILED, str(exc), reason=exc.reason, fields={"cost_sun": cost})

    # -- one handler per state ----------------------------------------------------------------------

    def _detected(self, s: Sweep) -> Decision:
        asset = self.assets.get(s.token_contract)
        balance = self._balance(asset, s.address)
        if balance < asset.token.min_amount:
            return skip("below_threshold", f"balance {balance} < minimum {asset.token.min_amount}")
        refusal = asset.refusal(self.chain, s.address)
        if refusal is not None:
            return skip(refusal.slug, refusal.why)
        if s.dry_run:
            return skip("dry_run", f"dry run: would sweep {balance} {asset.unit}")
        need = asset.need(self.chain, s.address, balance)
        if need.nothing:
            fields: dict[str, Any] = {"amount": balance}
            if need.required_energy:
                fields["energy_needed"] = need.required_energy
            return Move(SweepState.ENERGY_READY, "nothing to procure", fields=fields)
        # Nothing is paid before the sweep has shown it can finish, nor past a budget or the kill switch.
        unfinishable = self.guards.preflight(s, asset)
        if unfinishable is not None:
            return self.ordering.unpaid_failure(s, unfinishable)
        held = self.guards.gate(s)
        if held is not None:
            return held if isinstance(held, Wait) else self.ordering.unpaid_failure(s, held)
        self.procurement.void_unsent(s)
        choice = self.procurement.choose(s, asset, need, amount=balance)
        return self.ordering.procure(
            s, choice, balance, lambda e: skip(e.reason, f"no energy source fits: {e.detail}")
        )

    def _waiting_for_energy(self, s: Sweep) -> Decision:
        record = self.ledger.get_order(s.energy_source or "", s.order_no or "")
        if record is None:
            # A crash between the move and storing the order: the source was never called.
            return self.ordering.failover(s, f"order {s.order_no} was never stored, so never sent")
        if record.status is OrderRequestStatus.REQUESTED:
            return self.ordering.ask_again(s, record)
        if s.state is SweepState.ACTIVATING:
            if self.chain.is_activated(s.address):
                return Move(SweepState.ENERGY_ORDERED, "address activated")
        elif (have := self.chain.account(s.address)) is not None:
            # one read serves the activation, the need and the delivery check
            asset = self.assets.get(s.token_contract)
            required = asset.need(self.chain, s.address, s.amount, have=have).required_energy
            if self.procurement.delivered(s, record, have, required):
                self._learn_pace(s, record)
                self._read.account = (s.id, s.version + 1, have)  # signing follows in this call
                return Move(SweepState.ENERGY_READY, f"{record.step} on chain from {record.source}")
        if record.status is OrderRequestStatus.FAILED:
            return self.ordering.failover(s, record.detail or "the previous order failed")
        failure = self.procurement.check(s, record)
        if failure is not None:
            return self.ordering.failover(s, failure)
        return Wait(self.config.poll_seconds, f"waiting for {record.source}")

    def _energy_ready(self, s: Sweep) -> Decision:
        asset = self.assets.get(s.token_contract)
        if asset.destination != s.destination:
            raise PermanentError(
                f"sweep destination {s.destination} is not the configured {asset.destination}",
                reason="destination_mismatch",
            )
        stored = self.ledger.get_tx(s.txid) if s.txid else None
        if stored is not None and stored.status is TxStatus.SIGNED:
            # Back here after the node refused it for bandwidth: resend those bytes while they can be mined.
            if not provably_dead(self.chain, self._tx(s)):
                return Move(SweepState.SIGNED, "bandwidth secured: resend the signed transfer")
            self.ledger.mark_tx(stored.txid, TxStatus.EXPIRED)
        balance = self._balance(asset, s.address)
        if balance < asset.token.min_amount:
            return skip("balance_gone", f"balance {balance} < minimum {asset.token.min_amount}")
        need = asset.need(self.chain, s.address, balance, fresh=True, have=self._just_read(s))
        if not need.sendable:
            # Measured again just before signing: the energy or the bytes are short (a new energy factor,
            # bandwidth used meanwhile). Get what is missing; sign nothing that cannot be paid.
            return self.ordering.top_up(s, asset, need, balance)
        signer = self.keyring.signer_for(s.address)
        energy = max(s.energy_needed or 0, need.required_energy)
        built = asset.build_transfer(self.chain, signer, balance, energy_needed=energy)
        if isinstance(built, Refusal):
            return skip(built.slug, built.why)
        # The signed bytes are stored before anything can broadcast them.
        stored = self.ledger.store_signed_tx(s.id, TxKind.TRANSFER, built.tx)
        self._read.signed = stored  # what the next step sends: a txid's bytes never change
        return Move(
            SweepState.SIGNED, "transfer signed", fields={"txid": built.tx.txid, "amount": built.amount}
        )

    def _signed(self, s: Sweep) -> Decision:
        """Send the stored bytes; the node judges expiry by its head block, never our clock."""
        tx = self._tx(s)
        failpoints.hit(failpoints.AFTER_SIGN_BEFORE_BROADCAST)
        outcome = self.chain.broadcast(tx)
        if outcome is BroadcastOutcome.EXPIRED:
            # A worker may have died after the node accepted it: only replace what provably never was.
            if self.chain.receipt(tx.txid) is not None or self.chain.transaction_known(tx.txid):
                return Move(SweepState.BROADCAST, "found on chain after a restart")
            if provably_dead(self.chain, tx):
                return self._expired(s, "expired before broadcast")
            return Wait(self.config.poll_seconds, "expired by the head block; waiting for the solid block")
        if outcome is BroadcastOutcome.NO_BANDWIDTH:
            return self.ordering.bandwidth_refused(s)
        failpoints.hit(failpoints.AFTER_BROADCAST_BEFORE_STORE)
        self.ledger.mark_tx(tx.txid, TxStatus.BROADCAST, from_status=TxStatus.SIGNED)
        return Move(SweepState.BROADCAST, "broadcast", then=self._sent)

    def _sent(self) -> Decision:
        """Just sent: mined in the next block at the earliest, so confirmable no sooner than the depth after
        it; the first look comes then (or within ``UNSEEN_WAIT_CAP_S``), not one block from now. The
        transfer is sent and recorded: a node that cannot say how far the chain is only means a poll."""
        try:
            depth = max(self.chain.solid_lag(), self.config.confirmations)
            return self._blocks_wait(1 + depth, "sent", cap=UNSEEN_WAIT_CAP_S)  # the next block, then depth
        except TransientError:
            return self._poll()

    def _broadcast(self, s: Sweep) -> Decision:
        """Judge the transfer only by the solidified chain: a receipt there is final, one above may go."""
        tx = self._tx(s)
        receipt = self.chain.solid_receipt(tx.txid)
        if receipt is None:
            mined = self.chain.receipt(tx.txid)
            if mined is None:
                if provably_dead(self.chain, tx):
                    return self._expired(s, "expired and not on chain")
                self.chain.broadcast(
                    tx
                )  # the same bytes again in case a node dropped them; any answer is fine
                return self._poll()
            # Mined above the solid block: nothing to do until the chain can have solidified it that deep.
            head, solid = self.chain.block_heights()
            return self._pace(mined.block_number, head, head - solid, "mined, not yet solid")
        if not receipt.success:
            self.ledger.mark_tx(
                tx.txid, TxStatus.FAILED, block_number=receipt.block_number, fee_sun=receipt.fee_sun
            )
            return Move(
                SweepState.FAILED,
                f"{receipt.result} {receipt.message}".strip(),
                reason=f"onchain_{receipt.result.lower()}",
                fields={"cost_sun": self.procurement.cost(s, receipt.fee_sun)},
            )
        asset = self.assets.get(s.token_contract)
        if not asset.proves(receipt, s.address, s.amount):
            # SUCCESS, but not the Transfer we signed: whether the funds moved is unknown, so the sweep is
            # neither CONFIRMED nor FAILED; it is held, loudly, for an operator (docs/ARCHITECTURE.md §6.3).
            why = (
                f"receipt of {tx.txid} is SUCCESS but holds no Transfer({s.token_contract}, {s.address}, "
                f"{s.destination}, {s.amount}) log"
            )
            log.error("sweep.transfer_unproven", sweep_id=s.id, txid=tx.txid, detail=why)
            if s.reason != f"transfer_unproven: {why}":
                return Move(SweepState.BROADCAST, why, fields={"reason": f"transfer_unproven: {why}"})
            return Wait(UNPROVEN_WAIT_S, why)
        head = self.chain.head_block_number()
        if head - receipt.block_number < self.config.confirmations:
            return self._pace(receipt.block_number, head, 0, "solid, not yet deep enough")
        failpoints.hit(failpoints.DURING_CONFIRM)
        self.ledger.mark_tx(
            tx.txid, TxStatus.CONFIRMED, block_number=receipt.block_number, fee_sun=receipt.fee_sun
        )
        fields = {
            "confirmed_block": receipt.block_number,
            "cost_sun": self.procurement.cost(s, receipt.fee_sun),
        }
        return Move(SweepState.CONFIRMED, "confirmed", fields=fields, then=lambda: self._after_confirmed(s))

    # -- energy -------------------------------------------------------------------------------------

    def _after_confirmed(self, s: Sweep) -> Decision:
        # What arrived after the transfer was signed is swept right away, not at the next rescan.
        for contract in (s.token_contract, *self.assets.follow_ups(s.token_contract)):
            self.detect(s.address, contract)
        return Proceed("confirmed")

    def _ended(self, s: Sweep, end: SweepState) -> None:
        """Whatever the end: take back our delegated stake, and the TRX the burn source sent unused.

        Both are best effort here; ``reclaim_ended`` (reconcile) takes back what this could not.
        A FAILED sweep also quarantines its address (read from the sweep itself, see ``sweeper.guards``).
        """
        self.procurement.reclaim(s)
        if end is not SweepState.CONFIRMED:
            left = self.procurement.trx_sent(s)
            if left and self.assets.follow_ups(s.token_contract):
                self.detect(s.address, self.assets.follow_ups(s.token_contract)[0], quarantined_too=True)
            elif left:
                log.warning("burn.trx_left", sweep_id=s.id, address=s.address, sent_sun=left, end=end.value)

    def reclaim_ended(self, limit: int = 100) -> int:
        """Take back stake still delegated for sweeps that have ended (reconcile calls this)."""
        return self.procurement.reclaim_ended(self.ledger, limit)

    def _opened_after(self, s: Sweep) -> tuple[int, ...]:
        """Sweeps of the same address to start now that ``s`` is confirmed (a later deposit, leftover TRX)."""
        if s.state is not SweepState.CONFIRMED:
            return ()
        return tuple(o.id for o in self.ledger.sweeps(address=s.address, limit=20) if o.is_open)

    # -- helpers ------------------------------------------------------------------------------------

    def _learn_pace(self, s: Sweep, record: OrderRecord) -> None:
        """How long after it was placed this order was seen delivered: to the time this look was due (a
        queue that ran it late does not stretch the figure), or to now when it was woken early."""
        now = self.clock()
        due = s.next_check_at.timestamp() if s.next_check_at is not None else now
        self.ordering.pace.seen(record.source, record.step, min(now, due) - record.created_at.timestamp())

    def _just_read(self, s: Sweep) -> Resources | None:
        """The account this call read a moment ago for ``s`` as it is now (the delivery check that moved
        it here, under the same address lock), so signing does not read it again; else None."""
        seen, self._read.account = getattr(self._read, "account", None), None
        if seen is None or seen[:2] != (s.id, s.version):
            return None
        have: Resources = seen[2]
        return have

    def _poll(self) -> Decision:
        return Wait(self.config.poll_seconds)

    def _pace(self, block: int, head: int, lag: int, why: str, *, cap: float = CHAIN_WAIT_CAP_S) -> Wait:
        """Sleep until the first head at which a transfer in ``block`` can be CONFIRMED, not block by block.

        CONFIRMED needs the solid block at ``block`` or above and the head ``confirmations`` past it. The
        solid block trails the head by ``lag`` blocks (as read now), so the earliest such head is
        ``block + max(lag, confirmations)``; the wait is that many blocks at the chain's own pace, at least
        ``poll_seconds`` and at most ``cap``. The head block was already produced when it was read, so the
        target block exists when the wait ends unless slots were missed; a look that comes too early (or
        a solid block that fell further behind) just waits again. ``advance`` re-reads everything then,
        and a callback or reconcile that wakes the sweep sooner only costs a look.
        """
        return self._blocks_wait(block + max(lag, self.config.confirmations) - head, why, cap=cap)

    def _blocks_wait(self, blocks: int, why: str, *, cap: float = CHAIN_WAIT_CAP_S) -> Wait:
        """``blocks`` at the chain's own pace, at least ``poll_seconds`` and at most ``cap``."""
        seconds = blocks * self.chain.block_seconds()
        return Wait(max(self.config.poll_seconds, min(seconds, cap)), f"{why}: {blocks} block(s) to go")

    def _expired(self, s: Sweep, why: str) -> Move:
        """The stored transaction can never be included: record that and sign a fresh one."""
        if s.txid:
            self.ledger.mark_tx(s.txid, TxStatus.EXPIRED)
        return Move(SweepState.ENERGY_READY, why, fields={"txid": None})

    def _balance(self, asset: Asset, address: str) -> int:
        balance = asset.balance(self.chain, address)
        if balance > MAX_LEDGER_AMOUNT:
            raise AmountOutOfRange(
                f"{address} holds {balance} units of {asset.token.contract}, more than the ledger can record"
            )
        return balance

    def _sweep(self, sweep_id: int) -> Sweep:
        sweep = self.ledger.get_sweep(sweep_id)
        if sweep is None:
            raise UnknownSweep(f"no sweep with id {sweep_id}")
        return sweep

    def _tx(self, s: Sweep) -> SignedTx:
        """The sweep's stored transaction: the row this call has just stored (``_energy_ready``), or read."""
        signed, self._read.signed = getattr(self._read, "signed", None), None
        stored = signed if signed is not None and signed.txid == s.txid else self.ledger.get_tx(s.txid or "")
        if stored is None:
            raise PermanentError(f"sweep {s.id} has no stored transaction {s.txid}", reason="tx_missing")
        return SignedTx(txid=stored.txid, raw_json=stored.signed_json, expiration_ms=stored.expiration_ms)

    def _at(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(self.clock() + seconds, tz=UTC)
