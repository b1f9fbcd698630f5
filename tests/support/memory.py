"""Real in-memory implementations of the seams the state machine drives: a chain, an energy source, keys.

They keep real state and rules (balances, energy, a pending pool and blocks, expiry by chain time, an
order book keyed by our order number), so a test of the state machine exercises behaviour, not calls.
They are deliberately small; the devnet-backed suites check the same flows against the real adapter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.pool import StaticPool

from sweeper.energy.base import Capabilities, RentalSource
from sweeper.errors import (
    ChainUnavailable,
    ProviderInvalidRequest,
    SignerRejected,
    SignerUnavailable,
    SweeperError,
    UnknownKey,
)
from sweeper.flow import Flow, FlowConfig
from sweeper.ledger import DepositAddress, Ledger, create_engine_for
from sweeper.ledger.tables import Base
from sweeper.models import (
    ENERGY_TRANSFER_TO_HOLDER,
    ENERGY_TRANSFER_TO_NEW_HOLDER,
    BroadcastOutcome,
    EnergyOrder,
    OrderStatus,
    Quote,
    Receipt,
    Resources,
    SignedTx,
    Token,
)

USDT_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT = Token("USDT", USDT_CONTRACT, 6, 1_000_000)
HOT = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
ENERGY_PRICE_SUN = 100
EXPIRATION_MS = 60_000
TRX_TRANSFER_BYTES = 267


@dataclass
class _Tx:
    kind: str
    owner: str
    to: str
    amount: int
    contract: str = ""
    fee_limit: int = 0
    expiration_ms: int = 0


@dataclass
class MemoryChain:
    """A tiny TRON: TRX and one kind of token, energy and bandwidth, a pending pool, blocks, chain time."""

    now_ms: int = 1_700_000_000_000
    head: int = 100
    activated: set[str] = field(default_factory=lambda: {HOT})
    trx: dict[str, int] = field(default_factory=dict)
    tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    energy: dict[str, int] = field(default_factory=dict)
    bandwidth: dict[str, int] = field(default_factory=dict)
    blacklisted: set[str] = field(default_factory=set)
    txs: dict[str, _Tx] = field(default_factory=dict)
    pool: list[str] = field(default_factory=list)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    broadcasts: list[str] = field(default_factory=list)
    down: bool = False
    drop_broadcasts: bool = False
    revert_transfers: bool = False
    """Token transfers revert on chain (and use up the energy they were given), like a paused contract."""
    counter: int = 0

    # -- test controls ------------------------------------------------------------------------------

    def fund(self, address: str, sun: int) -> None:
        self.activated.add(address)
        self.trx[address] = self.trx.get(address, 0) + sun
        self.bandwidth.setdefault(address, 600)

    def mint(self, address: str, amount: int, contract: str = USDT_CONTRACT) -> None:
        self.tokens[(contract, address)] = self.tokens.get((contract, address), 0) + amount

    def delegate(self, address: str, energy: int) -> None:
        self.energy[address] = self.energy.get(address, 0) + energy

    def mine(self, blocks: int = 1) -> None:
        """Include every pending transaction in the next block, then add ``blocks - 1`` empty ones."""
        self.head += 1
        self.now_ms += 3_000
        for txid in self.pool:
            self.receipts[txid] = self._execute(txid, self.txs[txid])
        self.pool.clear()
        for _ in range(blocks - 1):
            self.head += 1
            self.now_ms += 3_000

    # -- the Chain port -----------------------------------------------------------------------------

    def is_activated(self, address: str) -> bool:
        self._up()
        return address in self.activated

    def trx_balance(self, address: str) -> int:
        self._up()
        return self.trx.get(address, 0)

    def token_balance(self, contract: str, address: str) -> int:
        self._up()
        return self.tokens.get((contract, address), 0)

    def resources(self, address: str) -> Resources:
        self._up()
        if address not in self.activated:
            return Resources(0, 0)
        return Resources(self.energy.get(address, 0), self.bandwidth.get(address, 0))

    def is_blacklisted(self, contract: str, address: str) -> bool:
        self._up()
        return address in self.blacklisted

    def transfer_energy(self, contract: str, to: str) -> int:
        self._up()
        holds = self.tokens.get((contract, to), 0) > 0
        return ENERGY_TRANSFER_TO_HOLDER if holds else ENERGY_TRANSFER_TO_NEW_HOLDER

    def energy_price_sun(self) -> int:
        return ENERGY_PRICE_SUN

    def build_token_transfer(
        self, contract: str, owner: object, to: str, amount: int, fee_limit_sun: int
    ) -> SignedTx:
        return self._sign(_Tx("token", _address(owner), to, amount, contract, fee_limit_sun))

    def build_trx_transfer(self, owner: object, to: str, amount_sun: int) -> SignedTx:
        return self._sign(_Tx("trx", _address(owner), to, amount_sun))

    def broadcast(self, tx: SignedTx) -> BroadcastOutcome:
        self._up()
        self.broadcasts.append(tx.txid)
        if tx.txid in self.pool or tx.txid in self.receipts:
            return BroadcastOutcome.ALREADY_KNOWN
        if self.now_ms >= tx.expiration_ms:
            return BroadcastOutcome.EXPIRED
        if not self.drop_broadcasts:
            self.pool.append(tx.txid)
        return BroadcastOutcome.SENT

    def receipt(self, txid: str) -> Receipt | None:
        self._up()
        return self.receipts.get(txid)

    def transaction_known(self, txid: str) -> bool:
        self._up()
        return txid in self.pool or txid in self.receipts

    def head_block_number(self) -> int:
        self._up()
        return self.head

    # -- internals ----------------------------------------------------------------------------------

    def _up(self) -> None:
        if self.down:
            raise ChainUnavailable("the in-memory node is down")

    def _sign(self, tx: _Tx) -> SignedTx:
        self._up()
        self.counter += 1
        tx.expiration_ms = self.now_ms + EXPIRATION_MS
        body = {"n": self.counter, **tx.__dict__}
        txid = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        self.txs[txid] = tx
        return SignedTx(txid=txid, raw_json=json.dumps(body), expiration_ms=tx.expiration_ms)

    def _execute(self, txid: str, tx: _Tx) -> Receipt:
        block = self.head
        if tx.kind == "trx":
            fee = 0 if self.bandwidth.get(tx.owner, 0) >= TRX_TRANSFER_BYTES else TRX_TRANSFER_BYTES * 1000
            self.trx[tx.owner] = self.trx.get(tx.owner, 0) - tx.amount - fee
            self.fund(tx.to, tx.amount)
            return Receipt(txid, block, True, "SUCCESS", fee_sun=fee)
        need = self.transfer_energy(tx.contract, tx.to)
        have = self.energy.get(tx.owner, 0)
        if self.revert_transfers:
            self.energy[tx.owner] = max(0, have - need)
            return Receipt(txid, block, False, "REVERT", message="the contract reverted")
        burn = max(0, need - have) * ENERGY_PRICE_SUN
        if burn > min(tx.fee_limit, self.trx.get(tx.owner, 0)):
            self.energy[tx.owner] = 0
            return Receipt(txid, block, False, "OUT_OF_ENERGY", fee_sun=0, message="not enough energy")
        self.energy[tx.owner] = max(0, have - need)
        self.trx[tx.owner] = self.trx.get(tx.owner, 0) - burn
        self.tokens[(tx.contract, tx.owner)] -= tx.amount
        self.mint(tx.to, tx.amount, tx.contract)
        return Receipt(txid, block, True, "SUCCESS", fee_sun=burn, energy_usage_total=need)


def _address(owner: object) -> str:
    address = getattr(owner, "address", owner)
    return str(address)


@dataclass
class MemorySigner:
    """Knows its address; its "signature" is a fixed-size stand-in the in-memory chain never checks.

    ``refuse`` makes it answer like a remote signer that will not sign (``SignerRejected``), ``away``
    like one that cannot be reached now (``SignerUnavailable``); ``signed`` counts what it signed.
    """

    address: str
    refuse: bool = False
    away: bool = False
    signed: list[bytes] = field(default_factory=list)

    def sign_digest(self, digest: bytes) -> bytes:
        if self.away:
            raise SignerUnavailable("the signing service is down")
        if self.refuse:
            raise SignerRejected(f"the signing service refuses to sign for {self.address}")
        self.signed.append(digest)
        return (digest * 3)[:65]


@dataclass
class MemoryKeyring:
    """Signers for the addresses it was given; anything else is an unknown key."""

    addresses: set[str] = field(default_factory=set)
    signers: dict[str, MemorySigner] = field(default_factory=dict)

    def signer_for(self, address: str) -> MemorySigner:
        if address not in self.addresses:
            raise UnknownKey(f"no key for {address}")
        return self.signers.setdefault(address, MemorySigner(address))


class MemorySource(RentalSource):
    """An energy provider with a real order book keyed by our number, delegating on the in-memory chain.

    Faults a test can arm: ``quote_error`` (every quote fails), ``refuse_next`` (the next new order is
    refused), ``lose_next`` (the next new order is placed but its answer is lost), ``crash_after_place``
    (the next new order is placed, then our side fails), ``hold`` (orders stay pending until
    ``release``), ``fail_orders`` (the provider reports every pending order failed). With
    ``reuses_numbers`` it behaves like a provider that takes a reused number as a new order (itrx and
    TronZap on the devnet): every call creates and charges an order; ``on_order`` runs inside a call.
    """

    def __init__(
        self,
        name: str,
        chain: MemoryChain,
        *,
        price: int = 50,
        activation: bool = True,
        activation_sun: int = 1_500_000,
        minimum: int = 0,
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(activation=activation, lookup=True)
        self.chain = chain
        self.price = price
        self.activation_sun = activation_sun
        self.minimum = minimum
        self.book: dict[str, EnergyOrder] = {}
        self.quotes = 0
        self.quote_error: SweeperError | None = None
        self.refuse_next: SweeperError | None = None
        self.lose_next = False
        self.hold = False
        self.fail_orders = False
        self.crash_after_place = False
        self.reuses_numbers = False
        self.on_quote: Callable[[], None] | None = None
        self.on_order: Callable[[], None] | None = None
        self.charged: list[str] = []
        self.charged_sun = 0

    def __repr__(self) -> str:
        return f"MemorySource({self.name!r})"

    @property
    def paid(self) -> list[str]:
        """The number of every order this provider accepted and charged for (a reused one twice)."""
        return list(self.charged)

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        self.quotes += 1
        if self.on_quote is not None:
            hook, self.on_quote = self.on_quote, None
            hook()
        if self.quote_error is not None:
            raise self.quote_error
        if activate and not self.capabilities.activation:
            raise ProviderInvalidRequest(f"{self.name} cannot activate")
        amount = max(energy, self.minimum)
        return Quote(
            self.name, amount, amount * self.price, activation_sun=self.activation_sun if activate else 0
        )

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        if self.on_order is not None:
            hook, self.on_order = self.on_order, None
            hook()
        if order_no in self.book and not self.reuses_numbers:
            return self.book[order_no]
        if self.refuse_next is not None:
            error, self.refuse_next = self.refuse_next, None
            raise error
        amount = max(energy, self.minimum)
        cost = amount * self.price + (self.activation_sun if activate else 0)
        order = EnergyOrder(self.name, order_no, address, amount, OrderStatus.PENDING, f"p-{order_no}", cost)
        self.book[order_no] = order
        self.charged.append(order_no)
        self.charged_sun += cost
        if not self.hold:
            self._deliver(order_no, activate)
        if self.crash_after_place:
            self.crash_after_place = False
            raise ChainUnavailable("our node went away while the order was being sent")
        if self.lose_next:
            self.lose_next = False
            return replace(order, status=OrderStatus.UNKNOWN, provider_order_id=None, cost_sun=0)
        return self.book[order_no]

    def release(self) -> None:
        """Deliver every order held so far."""
        self.hold = False
        for order_no, order in self.book.items():
            if order.status is OrderStatus.PENDING:
                self._deliver(order_no, activate=order.receive_address not in self.chain.activated)

    def status(self, order: EnergyOrder) -> EnergyOrder:
        found = self.book.get(order.order_no)
        if found is None:
            return order
        if self.fail_orders and found.status is OrderStatus.PENDING:
            found = self.book[order.order_no] = replace(found, status=OrderStatus.FAILED, detail="refunded")
        return found

    def lookup(self, order_no: str) -> EnergyOrder | None:
        return self.book.get(order_no)

    def balance(self) -> int:
        return 10**12

    def _deliver(self, order_no: str, activate: bool) -> None:
        order = self.book[order_no]
        if activate:
            self.chain.fund(order.receive_address, 0)
        self.chain.delegate(order.receive_address, order.energy)
        self.book[order_no] = replace(order, status=OrderStatus.DELIVERED)


class MemoryStake(MemorySource):
    """Our own staked account: delegates energy for free and takes it back on ``reclaim``.

    ``reclaim_error`` makes the next reclaim fail (our node went away); ``reclaimed`` lists what came back.
    """

    def __init__(self, name: str, chain: MemoryChain) -> None:
        super().__init__(name, chain, price=0, activation=False)
        self.capabilities = Capabilities(lookup=True, reclaim=True)
        self.delegated: dict[str, int] = {}
        self.reclaimed: list[str] = []
        self.reclaim_error: SweeperError | None = None

    def _deliver(self, order_no: str, activate: bool) -> None:
        super()._deliver(order_no, activate)
        order = self.book[order_no]
        self.delegated[order.receive_address] = self.delegated.get(order.receive_address, 0) + order.energy

    def reclaim(self, order: EnergyOrder) -> str | None:
        if self.reclaim_error is not None:
            error, self.reclaim_error = self.reclaim_error, None
            raise error
        amount = self.delegated.pop(order.receive_address, 0)
        if amount <= 0:
            return None
        held = self.chain.energy.get(order.receive_address, 0)
        self.chain.energy[order.receive_address] = max(0, held - amount)
        self.reclaimed.append(order.order_no)
        return f"undelegate-{order.order_no}"


class MemoryBurn(MemorySource):
    """A gas wallet: sends the address the TRX its transfer will burn (``delivers_trx``)."""

    def __init__(self, name: str, chain: MemoryChain) -> None:
        super().__init__(name, chain, price=ENERGY_PRICE_SUN)
        self.capabilities = Capabilities(activation=True, lookup=True, delivers_trx=True)

    def _deliver(self, order_no: str, activate: bool) -> None:
        order = self.book[order_no]
        self.chain.fund(order.receive_address, order.cost_sun)
        self.book[order_no] = replace(order, status=OrderStatus.DELIVERED)

    def covers(self, address: str, energy: int) -> bool:
        return self.chain.trx.get(address, 0) >= energy * ENERGY_PRICE_SUN


class NoLocks:
    """Locks that never exclude anyone: two workers whose address lock was taken away from one of them."""

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        yield


def memory_ledger(clock: Callable[[], float] | None = None) -> Ledger:
    """A ledger in one in-memory SQLite database shared by every connection of the engine."""
    engine = create_engine_for("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    if clock is None:
        return Ledger(engine)
    return Ledger(engine, clock=lambda: datetime.fromtimestamp(clock(), tz=UTC))


@dataclass
class Clock:
    """Wall time a test moves by hand; the chain's time follows it unless a test skews one of them."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Heart:
    """A flow wired to in-memory seams, with the handles a test needs to drive and inspect it."""

    flow: Flow
    ledger: Ledger
    chain: MemoryChain
    sources: dict[str, MemorySource]
    keyring: MemoryKeyring
    clock: Clock

    def deposit(
        self, address: str, amount: int, *, activated: bool = True, trx: int = 0, key: bool = True
    ) -> None:
        """A watched address holding ``amount`` USDT (activated with ``trx`` sun, or never used); with
        ``key=False`` nobody holds its key (an ``external:`` CSV row whose key never arrived)."""
        if self.ledger.get_address(address) is None:
            self.ledger.add_addresses([DepositAddress(address, f"memory:{address}")])
        if key:
            self.keyring.addresses.add(address)
        if activated:
            self.chain.fund(address, trx)
        self.chain.mint(address, amount)

    def open(self, address: str, contract: str = USDT_CONTRACT) -> int:
        sweep = self.flow.detect(address, contract, record_dust=True)
        assert sweep is not None
        return sweep.id

    def tick(self, seconds: float = 3.0, blocks: int = 1) -> None:
        """Let time pass: the clock moves and the chain mines what is pending."""
        self.clock.now += seconds
        self.chain.mine(blocks)
        self.chain.now_ms = int(self.clock.now * 1000)

    def second_worker(self, locks: object | None = None) -> Flow:
        """Another worker's flow over the same ledger, chain, providers, keys and clock."""
        return Flow(
            ledger=self.ledger,
            chain=self.chain,  # type: ignore[arg-type]
            sources=self.sources,
            keyring=self.keyring,
            config=self.flow.config,
            locks=locks,  # type: ignore[arg-type]
            clock=self.clock,
        )

    def run(self, sweep_id: int, *, rounds: int = 30) -> str:
        """Advance the sweep, letting time pass whenever it waits, until it ends (or ``rounds`` run out)."""
        for _ in range(rounds):
            step = self.flow.advance(sweep_id)
            if step.retry_in is None:
                break
            self.tick(max(step.retry_in, 0.1))
        sweep = self.ledger.get_sweep(sweep_id)
        assert sweep is not None
        return sweep.state.value


def heart(
    *,
    prices: dict[str, int] | None = None,
    activation: dict[str, bool] | None = None,
    locks: object | None = None,
    **config: object,
) -> Heart:
    """A state machine over in-memory seams; ``prices`` names the sources (in preference order).

    A source named ``stake`` is our own stake (:class:`MemoryStake`), one named ``burn`` a gas wallet
    (:class:`MemoryBurn`); every other is a rental provider at its price per energy.
    """
    clock = Clock()
    chain = MemoryChain(now_ms=int(clock.now * 1000))
    chain.mint(HOT, 1)
    names = prices or {"cheap": 40, "dear": 60}
    sources: dict[str, MemorySource] = {}
    for name, price in names.items():
        if name == "stake":
            sources[name] = MemoryStake(name, chain)
        elif name == "burn":
            sources[name] = MemoryBurn(name, chain)
        else:
            sources[name] = MemorySource(
                name, chain, price=price, activation=(activation or {}).get(name, True)
            )
    ledger = memory_ledger(clock)
    keyring = MemoryKeyring()
    settings: dict[str, object] = {
        "tokens": {USDT_CONTRACT: USDT},
        "destinations": {USDT_CONTRACT: HOT},
        "confirmations": 2,
        "poll_seconds": 3.0,
        "max_sun_per_sweep": 12_000_000,
        "max_percent_of_amount": Decimal(100),
        **config,
    }
    flow = Flow(
        ledger=ledger,
        chain=chain,  # type: ignore[arg-type]
        sources=sources,
        keyring=keyring,
        config=FlowConfig(**settings),  # type: ignore[arg-type]
        locks=locks,  # type: ignore[arg-type]
        clock=clock,
    )
    return Heart(flow, ledger, chain, sources, keyring, clock)
