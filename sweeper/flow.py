"""The sweep state machine (DESIGN §2): ``advance(sweep_id)`` performs one safe step at a time.

Every step reads the ledger, makes at most one foreign call whose identity was stored before the call,
and commits its transition with compare-and-set. Running it twice, or on two workers at once, is
harmless: the address lock serialises workers, and a lost race turns a transition into a no-op.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog

from sweeper import failpoints
from sweeper.chain.port import Chain, Signer
from sweeper.energy.base import EnergySource, OrderOutcomeUnknown
from sweeper.energy.health import CircuitBreaker
from sweeper.errors import (
    ChainUnavailable,
    DuplicateTransaction,
    LockBusy,
    PermanentError,
    PolicyRefused,
    SweeperError,
    TransactionExpired,
    TransientError,
)
from sweeper.ledger.errors import LedgerUnavailable
from sweeper.ledger.records import OrderRecord, OrderRequestStatus, Sweep, TxKind, TxStatus
from sweeper.ledger.repository import Ledger
from sweeper.models import (
    ENERGY_TRANSFER_TO_HOLDER,
    EnergyOrder,
    OrderStatus,
    Quote,
    SignedTx,
    SweepState,
    Token,
)
from sweeper.policy import choose_source, energy_needed

log = structlog.get_logger("sweeper.flow")

WAITING_STATES = frozenset(
    {SweepState.ACTIVATING, SweepState.ENERGY_ORDERED, SweepState.SIGNED, SweepState.BROADCAST}
)
FEE_LIMIT_HEADROOM = Decimal("1.2")
MAX_LEDGER_AMOUNT = 2**63 - 1
"""The largest amount the ledger stores (BIGINT); tokens with more decimals need a wider column."""
TRX = "TRX"
"""The token_contract of a leftover-TRX sweep: TRX is native, not a contract."""
TRX_TRANSFER_RESERVE_SUN = (
    300_000  # bandwidth burn for a ~267-byte TRX transfer when no free bandwidth is left
)
ACTIVATION_STEP = "activation"
ENERGY_STEP = "energy"

_ORDER_STATUS = {
    OrderStatus.PENDING: OrderRequestStatus.PENDING,
    OrderStatus.DELIVERED: OrderRequestStatus.DELIVERED,
    OrderStatus.FAILED: OrderRequestStatus.FAILED,
}


class Keyring(Protocol):
    """Finds the signer for a deposit address (mnemonic, keystore or remote signer)."""

    def signer_for(self, address: str) -> Signer: ...


class AddressLocks(Protocol):
    """Serialises work on one address across workers; ``hold`` raises LockBusy when it is taken."""

    def hold(self, address: str) -> AbstractContextManager[None]: ...


class LocalLocks:
    """Process-local locks: enough for one process (tests, the CLI); workers share Redis locks."""

    def __init__(self, wait_seconds: float = 5.0) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._wait = wait_seconds

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(address, threading.Lock())
        if not lock.acquire(timeout=self._wait):
            raise LockBusy(f"address {address} is busy")
        try:
            yield
        finally:
            lock.release()


class UnknownSweep(PermanentError):
    """Raised when a sweep id is not in the ledger."""

    reason = "unknown_sweep"


class AmountOutOfRange(PermanentError):
    """Raised when a balance is larger than a ledger row can hold: refused, never truncated."""

    reason = "amount_out_of_range"


class SourcesUnavailable(TransientError):
    """Raised when no quote fits and a source that could serve the sweep is failing only for now.

    A 5xx storm or an open circuit is weather, not a verdict: the sweep waits instead of being skipped.
    """

    reason = "sources_unavailable"


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """The knobs of the state machine, read once from configuration by the delivery layer.

    ``tokens`` and ``destinations`` are keyed by token contract; destinations come only from here.
    """

    tokens: Mapping[str, Token]
    destinations: Mapping[str, str]
    confirmations: int = 19
    energy_margin: int = 0
    max_sun_per_sweep: int = 12_000_000
    max_percent_of_amount: Decimal = Decimal(5)
    trx_per_token: Mapping[str, Decimal] = field(default_factory=dict)
    dry_run: bool = False
    poll_seconds: float = 3.0
    order_timeout_seconds: float = 180.0
    expiry_grace_ms: int = 9_000
    max_steps_per_call: int = 8
    max_orders_per_sweep: int = 6
    leftover_trx_min_sun: int | None = None
    """Sweep TRX left on an address after its token sweep, when at least this much (None: off)."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one ``advance`` call left behind: the state, and seconds until it should look again."""

    sweep_id: int
    state: SweepState
    retry_in: float | None
    note: str = ""


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
        self.sources = dict(sources)
        self.keyring = keyring
        self.config = config
        self.locks: AddressLocks = locks or LocalLocks()
        self.breakers = dict(breakers or {})
        self.clock = clock

    # -- entry points -------------------------------------------------------------------------------

    def detect(
        self, address: str, contract: str, *, block: int | None = None, record_dust: bool = False
    ) -> Sweep | None:
        """Open a sweep if ``address`` is watched and holds at least the token's minimum; idempotent.

        With ``record_dust`` (a deposit was seen, or an operator asked), a balance below the minimum is
        recorded as a sweep that the next step skips with its reason, so nothing seen goes unexplained.
        """
        token = self._token(contract)
        balance = self._balance(contract, address)
        if balance <= 0 or (balance < token.min_amount and not record_dust):
            return None
        return self.ledger.open_sweep(
            address,
            token,
            balance,
            self._destination(contract),
            self.config.dry_run,
            detected_block=block,
        )

    def advance(self, sweep_id: int) -> Step:
        """Perform the next safe steps of one sweep until it has to wait; never blocks on the chain."""
        sweep = self._sweep(sweep_id)
        if not sweep.is_open:
            return Step(sweep_id, sweep.state, None, sweep.reason or "")
        with self.locks.hold(sweep.address):
            for _ in range(self.config.max_steps_per_call):
                sweep = self._sweep(sweep_id)
                if not sweep.is_open:
                    return Step(sweep_id, sweep.state, None, sweep.reason or "")
                try:
                    wait = self._step(sweep)
                except PermanentError as exc:
                    self._fail(sweep, exc)
                    continue
                if wait is not None:
                    current = self._sweep(sweep_id)
                    if current.is_open:
                        self.ledger.set_next_check(sweep_id, self._at(wait))
                    return Step(sweep_id, current.state, wait if current.is_open else None)
            current = self._sweep(sweep_id)
            return Step(sweep_id, current.state, 0.0 if current.is_open else None)

    def retry(self, sweep_id: int) -> bool:
        """Re-open a FAILED sweep as a new attempt (the operator's `sweeper retry`)."""
        self._sweep(sweep_id)
        return self.ledger.reopen(sweep_id)

    # -- one handler per state ----------------------------------------------------------------------

    def _step(self, s: Sweep) -> float | None:
        """Run the handler for the sweep's state; return seconds to wait, or None to go on now."""
        handlers: dict[SweepState, Callable[[Sweep], float | None]] = {
            SweepState.DETECTED: self._detected,
            SweepState.ACTIVATING: self._waiting_for_energy,
            SweepState.ENERGY_ORDERED: self._waiting_for_energy,
            SweepState.ENERGY_READY: self._energy_ready,
            SweepState.SIGNED: self._signed,
            SweepState.BROADCAST: self._broadcast,
        }
        return handlers[s.state](s)

    def _detected(self, s: Sweep) -> float | None:
        token = self._token(s.token_contract)
        balance = self._balance(s.token_contract, s.address)
        if balance < token.min_amount:
            return self._skip(s, "below_threshold", f"balance {balance} < minimum {token.min_amount}")
        if s.token_contract == TRX:  # native TRX needs no energy, only bandwidth
            if s.dry_run:
                return self._skip(s, "dry_run", f"dry run: would sweep {balance} sun")
            self._move(s, SweepState.ENERGY_READY, "leftover TRX: no energy needed", amount=balance)
            return None
        if self.chain.is_blacklisted(s.token_contract, s.address):
            return self._skip(s, "blacklisted", "the token contract blacklists this address")
        if s.dry_run:
            return self._skip(s, "dry_run", f"dry run: would sweep {balance} {token.symbol}")
        activated = self.chain.is_activated(s.address)
        need, required = self._energy(s, activated)
        if need == 0:
            self._move(
                s,
                SweepState.ENERGY_READY,
                "energy already on the address",
                amount=balance,
                energy_needed=required,
            )
            return None
        try:
            self._order_energy(s, need, activate=not activated, amount=balance, required=required)
        except SourcesUnavailable as exc:
            log.warning("energy.sources_unavailable", sweep_id=s.id, detail=str(exc))
            return self.config.poll_seconds * 10
        except PolicyRefused as exc:
            exclusions = getattr(exc, "exclusions", {})
            over_cap = any("exceeds" in why for why in exclusions.values()) or not exclusions
            return self._skip(s, "fee_cap" if over_cap else "no_energy_source", str(exc))
        return self.config.poll_seconds

    def _waiting_for_energy(self, s: Sweep) -> float | None:
        record = self._order_record(s)
        if record.status is OrderRequestStatus.REQUESTED:
            # The call may or may not have reached the source; ordering is idempotent by our number.
            self._call_source(s, record)
            s = self._sweep(s.id)
            if s.state not in (SweepState.ACTIVATING, SweepState.ENERGY_ORDERED):
                return None
            record = self._order_record(s)
        if record.status is OrderRequestStatus.FAILED:
            return self._failover(s, record, record.detail or "the previous order failed")
        activated = self.chain.is_activated(s.address)
        if s.state is SweepState.ACTIVATING:
            if not activated:
                return self._check_order(s, record)
            self._move(s, SweepState.ENERGY_ORDERED, "address activated")
            return None
        if activated and self._energy_on_chain(s, record.source):
            if record.status is not OrderRequestStatus.DELIVERED:
                self.ledger.update_order(record.source, record.order_no, status=OrderRequestStatus.DELIVERED)
            self._healthy_again(record.source)
            self._move(s, SweepState.ENERGY_READY, f"energy on chain from {record.source}")
            return None
        return self._check_order(s, record)

    def _energy_ready(self, s: Sweep) -> float | None:
        token = self._token(s.token_contract)
        destination = self._destination(s.token_contract)
        if destination != s.destination:
            raise PermanentError(
                f"sweep destination {s.destination} is not the configured {destination}",
                reason="destination_mismatch",
            )
        balance = self._balance(s.token_contract, s.address)
        if balance < token.min_amount:
            return self._skip(s, "balance_gone", f"balance {balance} < minimum {token.min_amount}")
        signer = self.keyring.signer_for(s.address)
        if s.token_contract == TRX:
            free = self.chain.resources(s.address).bandwidth >= TRX_TRANSFER_RESERVE_SUN // 1000
            amount = balance if free else balance - TRX_TRANSFER_RESERVE_SUN
            if amount <= 0:
                return self._skip(s, "below_threshold", f"{balance} sun does not cover the bandwidth fee")
            tx = self.chain.build_trx_transfer(signer, destination, amount)
            self.ledger.store_signed_tx(s.id, TxKind.TRANSFER, tx)
            self._move(s, SweepState.SIGNED, "TRX transfer signed", txid=tx.txid, amount=amount)
            return None
        energy = max(s.energy_needed or 0, self.chain.transfer_energy(s.token_contract, destination))
        fee_limit = math.ceil(energy * self.chain.energy_price_sun() * FEE_LIMIT_HEADROOM)
        tx = self.chain.build_token_transfer(s.token_contract, signer, destination, balance, fee_limit)
        # Invariant 2: the signed bytes are stored before anything can broadcast them.
        self.ledger.store_signed_tx(s.id, TxKind.TRANSFER, tx)
        self._move(s, SweepState.SIGNED, "transfer signed", txid=tx.txid, amount=balance)
        return None

    def _signed(self, s: Sweep) -> float | None:
        tx = self._tx(s)
        if self._now_ms() >= tx.expiration_ms:
            # A worker may have died after the node accepted it: only replace what the chain never saw.
            if self.chain.receipt(tx.txid) is not None or self.chain.transaction_known(tx.txid):
                self._move(s, SweepState.BROADCAST, "found on chain after a restart")
                return None
            if self._now_ms() <= tx.expiration_ms + self.config.expiry_grace_ms:
                return self.config.poll_seconds  # a node whose clock lags could still include it
            return self._expired(s, "expired before broadcast")
        failpoints.hit(failpoints.AFTER_SIGN_BEFORE_BROADCAST)
        try:
            self.chain.broadcast(tx)
        except DuplicateTransaction:
            pass  # the node already holds exactly these bytes: the outcome we wanted
        except TransactionExpired:
            # Our clock says it is still valid, the node's says not: let the expiry path above decide
            # (after the grace, and only if the chain never included it).
            return self.config.poll_seconds
        failpoints.hit(failpoints.AFTER_BROADCAST_BEFORE_STORE)
        self.ledger.mark_tx(tx.txid, TxStatus.BROADCAST, from_status=TxStatus.SIGNED)
        self._move(s, SweepState.BROADCAST, "broadcast")
        return self.config.poll_seconds

    def _broadcast(self, s: Sweep) -> float | None:
        tx = self._tx(s)
        receipt = self.chain.receipt(tx.txid)
        if receipt is None:
            if self._now_ms() > tx.expiration_ms + self.config.expiry_grace_ms:
                if not self.chain.transaction_known(tx.txid):
                    return self._expired(s, "expired and not on chain")
                return self.config.poll_seconds
            # Send the same bytes again in case a node dropped them; duplicates are harmless.
            with contextlib.suppress(DuplicateTransaction, TransactionExpired):
                self.chain.broadcast(tx)
            return self.config.poll_seconds
        if not receipt.success:
            self.ledger.mark_tx(
                tx.txid, TxStatus.FAILED, block_number=receipt.block_number, fee_sun=receipt.fee_sun
            )
            self._move(
                s,
                SweepState.FAILED,
                f"{receipt.result} {receipt.message}".strip(),
                reason_slug=f"onchain_{receipt.result.lower()}",
                cost_sun=self._cost(s, receipt.fee_sun),
            )
            return None
        if self.chain.head_block_number() - receipt.block_number < self.config.confirmations:
            return self.config.poll_seconds
        failpoints.hit(failpoints.DURING_CONFIRM)
        self.ledger.mark_tx(
            tx.txid, TxStatus.CONFIRMED, block_number=receipt.block_number, fee_sun=receipt.fee_sun
        )
        self._move(
            s,
            SweepState.CONFIRMED,
            "confirmed",
            confirmed_block=receipt.block_number,
            cost_sun=self._cost(s, receipt.fee_sun),
        )
        self._reclaim(s)
        self._open_leftover_trx(s)
        return None

    def _energy_on_chain(self, s: Sweep, source: str) -> bool:
        """The transfer can pay for its energy: delegated energy, or TRX the burn source sent to burn."""
        shortfall = (s.energy_needed or 0) - self.chain.resources(s.address).energy
        if shortfall <= 0:
            return True
        found = self.sources.get(source)
        return found is not None and found.capabilities.delivers_trx and found.covers(s.address, shortfall)

    # -- energy orders ------------------------------------------------------------------------------

    def _energy(self, s: Sweep, activated: bool) -> tuple[int, int]:
        """(energy to obtain now, energy the transfer needs on the address)."""
        transfer = self.chain.transfer_energy(s.token_contract, s.destination)
        available = self.chain.resources(s.address).energy if activated else 0
        holder = transfer <= ENERGY_TRANSFER_TO_HOLDER
        need = energy_needed(holder, self.config.energy_margin, available)
        required = transfer + self.config.energy_margin
        return need, required

    def _order_energy(
        self,
        s: Sweep,
        need: int,
        *,
        activate: bool,
        amount: int,
        required: int,
        exclude: frozenset[str] = frozenset(),
    ) -> None:
        """Pick the cheapest fitting source, store our order number, move the sweep, then call the source."""
        self._void_unsent_orders(s)
        quote = self._choose(s, need, activate=activate, amount=amount, exclude=exclude)
        order_no = f"sw{s.id}a{s.attempt}o{self.ledger.count_orders(s.id) + 1}"
        step = ACTIVATION_STEP if activate else ENERGY_STEP
        # Invariant 3: the order number is stored before the source is called.
        record = self.ledger.record_order_request(s.id, step, quote.source, order_no, need)
        state = SweepState.ACTIVATING if activate else SweepState.ENERGY_ORDERED
        fields: dict[str, Any] = {
            "energy_source": quote.source,
            "order_no": order_no,
            "amount": amount,
            "energy_needed": required,
        }
        note = f"ordering {need} energy from {quote.source} ({quote.total_sun} sun quoted)"
        if s.state == state:
            moved = self.ledger.update_fields(s.id, s.state, expected_version=s.version, **fields)
        else:
            moved = self._move(s, state, note, **fields)
        if moved:
            log.info("energy.ordering", sweep_id=s.id, source=quote.source, order_no=order_no, energy=need)
            self._call_source(self._sweep(s.id), record)

    def _choose(self, s: Sweep, need: int, *, activate: bool, amount: int, exclude: frozenset[str]) -> Quote:
        quotes = []
        failed: dict[str, str] = {}
        sick: set[str] = set()  # could serve this sweep, but fail transiently right now
        for name, source in self.sources.items():
            if name in exclude:
                failed[name] = "already tried for this sweep"
            elif activate and not source.capabilities.activation:
                failed[name] = "cannot activate an address"
            elif not self._is_healthy(name):
                failed[name] = "circuit open (recent failures)"
                sick.add(name)
            else:
                try:
                    quotes.append(source.quote(s.address, need, to=s.destination, activate=activate))
                except SweeperError as exc:
                    self._unhealthy(name, exc)
                    failed[name] = f"{exc.reason}: {exc}"
                    if isinstance(exc, TransientError):
                        sick.add(name)
        token = self.config.tokens[s.token_contract]
        try:
            ranked = choose_source(
                quotes,
                {q.source for q in quotes},
                amount_units=amount,
                token_decimals=token.decimals,
                max_sun_per_sweep=self.config.max_sun_per_sweep,
                max_percent=self.config.max_percent_of_amount,
                trx_per_token=self.config.trx_per_token.get(s.token_contract),
                failed=failed,
            )
        except PolicyRefused as exc:
            if sick:
                raise SourcesUnavailable(f"{exc} (waiting for {', '.join(sorted(sick))})") from exc
            raise
        return ranked[0]

    def _void_unsent_orders(self, s: Sweep) -> None:
        """Close order rows a crash left behind before the sweep moved to them.

        A source is only called after the sweep's row names the order (compare-and-set), so a REQUESTED
        order the sweep does not name was never sent: mark it FAILED rather than leave it looking live.
        """
        for record in self.ledger.orders_for_sweep(s.id):
            if record.status is OrderRequestStatus.REQUESTED and record.order_no != s.order_no:
                self.ledger.update_order(
                    record.source,
                    record.order_no,
                    status=OrderRequestStatus.FAILED,
                    from_status=OrderRequestStatus.REQUESTED,
                    detail="never sent: the sweep did not move to this order before a crash",
                )

    def _call_source(self, s: Sweep, record: OrderRecord) -> None:
        source = self.sources.get(record.source)
        if source is None:
            raise PermanentError(
                f"energy source {record.source} is no longer configured", reason="source_gone"
            )
        try:
            order = source.order(
                record.order_no,
                s.address,
                record.energy,
                to=s.destination,
                activate=record.step == ACTIVATION_STEP,
            )
        except OrderOutcomeUnknown as exc:
            self.ledger.update_order(
                record.source, record.order_no, status=OrderRequestStatus.UNKNOWN, detail=str(exc)
            )
            return
        except (ChainUnavailable, LedgerUnavailable):
            raise  # our own side is down: the order stays REQUESTED and is asked again, idempotently
        except SweeperError as exc:
            # The source answered (or was never reached): no order exists under this number.
            self._unhealthy(record.source, exc)
            self.ledger.update_order(
                record.source,
                record.order_no,
                status=OrderRequestStatus.FAILED,
                detail=f"{exc.reason}: {exc}",
            )
            self._failover(s, record, f"{exc.reason}: {exc}")
            return
        failpoints.hit(failpoints.AFTER_ORDER_SENT)
        self._store(record, order)

    def _check_order(self, s: Sweep, record: OrderRecord) -> float | None:
        """Ask the source about a pending order; fail over when it failed or never delivered."""
        if record.status in (OrderRequestStatus.PENDING, OrderRequestStatus.UNKNOWN):
            try:
                current = self.sources[record.source].status(_order_of(record, s.address))
            except (SweeperError, KeyError):
                current = None
            if current is not None:
                self._store(record, current)
                if current.status is OrderStatus.FAILED:
                    return self._failover(s, record, f"the source reports failure: {current.detail}")
        age = self.clock() - record.created_at.timestamp()
        if age > self.config.order_timeout_seconds:
            self.ledger.update_order(
                record.source,
                record.order_no,
                status=OrderRequestStatus.FAILED,
                detail="no energy on chain before the deadline",
            )
            self._unhealthy(record.source, None)
            return self._failover(s, record, "no energy on chain before the deadline")
        return self.config.poll_seconds

    def _failover(self, s: Sweep, failed: OrderRecord, why: str) -> float | None:
        """Order from the next source; a sweep never orders twice from a source that failed it."""
        log.warning("energy.failover", sweep_id=s.id, source=failed.source, why=why)
        current = self._sweep(s.id)
        activated = self.chain.is_activated(current.address)
        need, required = self._energy(current, activated)
        if need == 0 and activated:
            return None  # the energy arrived after all; the next step sees it
        orders = self.ledger.orders_for_sweep(current.id)
        tried = frozenset(o.source for o in orders)
        if len(orders) >= self.config.max_orders_per_sweep:
            tried = frozenset(self.sources)  # enough money risked on this sweep: stop ordering
        try:
            try:
                self._order_energy(
                    current,
                    need,
                    activate=not activated,
                    amount=current.amount,
                    required=required,
                    exclude=tried,
                )
            except PolicyRefused:
                if len(orders) >= self.config.max_orders_per_sweep:
                    raise
                # Every source was tried once; ask them all again (breakers still keep sick ones out).
                self._order_energy(
                    current, need, activate=not activated, amount=current.amount, required=required
                )
        except SourcesUnavailable as exc:
            log.warning("energy.sources_unavailable", sweep_id=current.id, detail=str(exc))
            return self.config.poll_seconds * 10  # a source that could serve is sick: wait for it
        except PolicyRefused as exc:
            if self._any_circuit_open() and len(orders) < self.config.max_orders_per_sweep:
                return self.config.poll_seconds * 10  # sources are sick, not unaffordable: wait for them
            self._move(
                current,
                SweepState.FAILED,
                f"no energy source left: {exc}",
                reason_slug="no_energy_source",
                cost_sun=self._cost(current, 0),
            )
            return None
        return self.config.poll_seconds

    def _store(self, record: OrderRecord, order: EnergyOrder) -> None:
        self.ledger.update_order(
            record.source,
            record.order_no,
            status=_ORDER_STATUS[order.status],
            provider_order_id=order.provider_order_id,
            cost_sun=order.cost_sun or None,
            detail=order.detail or None,
        )

    def _reclaim(self, s: Sweep) -> None:
        """Take back delegated stake once the transfer is confirmed (the stake source only)."""
        for record in self.ledger.orders_for_sweep(s.id):
            source = self.sources.get(record.source)
            if source is None or not source.capabilities.reclaim:
                continue
            if record.status is not OrderRequestStatus.DELIVERED:
                continue
            try:
                source.reclaim(_order_of(record, s.address))
            except SweeperError as exc:  # a failed reclaim costs opportunity, never funds
                log.warning("stake.reclaim_failed", sweep_id=s.id, error=exc.reason)

    # -- helpers ------------------------------------------------------------------------------------

    def _open_leftover_trx(self, s: Sweep) -> None:
        """After a token sweep, open a TRX sweep for what the address still holds (if configured)."""
        if self.config.leftover_trx_min_sun is None or s.token_contract == TRX:
            return
        self.detect(s.address, TRX)

    def _token(self, contract: str) -> Token:
        if contract == TRX:
            minimum = self.config.leftover_trx_min_sun
            return Token(TRX, TRX, 6, minimum if minimum is not None else 2**63)
        return self.config.tokens[contract]

    def _destination(self, contract: str) -> str:
        if contract == TRX:
            # Leftover TRX goes to the hot wallet of the first configured token: still only configuration.
            return next(iter(self.config.destinations.values()))
        return self.config.destinations[contract]

    def _balance(self, contract: str, address: str) -> int:
        if contract == TRX:
            balance = self.chain.trx_balance(address)
        else:
            balance = self.chain.token_balance(contract, address)
        if balance > MAX_LEDGER_AMOUNT:
            raise AmountOutOfRange(
                f"{address} holds {balance} units of {contract}, more than the ledger can record"
            )
        return balance

    def _cost(self, s: Sweep, fee_sun: int) -> int:
        """What the sweep cost: every order the sources charged for, plus TRX burned on chain.

        TRX the burn source sent is what the transfer then burns: it is counted once, not twice.
        """
        orders = self.ledger.orders_for_sweep(s.id)
        sent = sum(o.cost_sun or 0 for o in orders if self._delivers_trx(o.source))
        rented = sum(o.cost_sun or 0 for o in orders) - sent
        burned = sum(t.fee_sun or 0 for t in self.ledger.txs_for_sweep(s.id) if t.txid != s.txid)
        return rented + max(sent, burned + fee_sun)

    def _expired(self, s: Sweep, why: str) -> float | None:
        """The stored transaction can never be included: record that and sign a fresh one."""
        if s.txid:
            self.ledger.mark_tx(s.txid, TxStatus.EXPIRED)
        self._move(s, SweepState.ENERGY_READY, why, txid=None)
        return None

    def _skip(self, s: Sweep, slug: str, why: str) -> float | None:
        self._move(s, SweepState.SKIPPED, why, reason_slug=slug)
        return None

    def _fail(self, s: Sweep, exc: PermanentError) -> None:
        log.warning("sweep.failed", sweep_id=s.id, state=s.state.value, error=exc.reason, detail=str(exc))
        self._move(s, SweepState.FAILED, str(exc), reason_slug=exc.reason, cost_sun=self._cost(s, 0))

    def _move(
        self, s: Sweep, to: SweepState, note: str, *, reason_slug: str | None = None, **fields: Any
    ) -> bool:
        reason = f"{reason_slug}: {note}" if reason_slug else None
        changed = self.ledger.transition(s.id, s.state, to, reason=reason, note=note, **fields)
        if changed:
            log.info(
                "sweep.transition",
                sweep_id=s.id,
                address=s.address,
                frm=s.state.value,
                to=to.value,
                note=note,
            )
        return changed

    def _sweep(self, sweep_id: int) -> Sweep:
        sweep = self.ledger.get_sweep(sweep_id)
        if sweep is None:
            raise UnknownSweep(f"no sweep with id {sweep_id}")
        return sweep

    def _order_record(self, s: Sweep) -> OrderRecord:
        record = self.ledger.get_order(s.energy_source or "", s.order_no or "")
        if record is None:
            raise PermanentError(f"sweep {s.id} has no stored order {s.order_no}", reason="order_missing")
        return record

    def _tx(self, s: Sweep) -> SignedTx:
        stored = self.ledger.get_tx(s.txid or "")
        if stored is None:
            raise PermanentError(f"sweep {s.id} has no stored transaction {s.txid}", reason="tx_missing")
        return SignedTx(txid=stored.txid, raw_json=stored.signed_json, expiration_ms=stored.expiration_ms)

    def _delivers_trx(self, name: str) -> bool:
        source = self.sources.get(name)
        return source is not None and source.capabilities.delivers_trx

    def _any_circuit_open(self) -> bool:
        return any(not b.healthy for b in self.breakers.values())

    def _is_healthy(self, name: str) -> bool:
        breaker = self.breakers.get(name)
        return breaker is None or breaker.healthy

    def _unhealthy(self, name: str, exc: SweeperError | None) -> None:
        breaker = self.breakers.get(name)
        if breaker is not None and (exc is None or isinstance(exc, TransientError)):
            breaker.record_failure(exc)

    def _healthy_again(self, name: str) -> None:
        breaker = self.breakers.get(name)
        if breaker is not None:
            breaker.record_success()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _at(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(self.clock() + seconds, tz=UTC)


def _order_of(record: OrderRecord, address: str) -> EnergyOrder:
    return EnergyOrder(
        source=record.source,
        order_no=record.order_no,
        receive_address=address,
        energy=record.energy,
        status=OrderStatus.PENDING,
        provider_order_id=record.provider_order_id,
        cost_sun=record.cost_sun or 0,
    )
