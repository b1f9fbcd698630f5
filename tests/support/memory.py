"""Real in-memory implementations of the seams the state machine drives: a chain, an energy source, keys.

They keep real state and rules (balances, energy measured per token with an energy factor, bandwidth
paid from stake, the free allowance or TRX at broadcast with ``BANDWITH_ERROR`` when nothing can, a
pending pool and blocks with chain time and a solid block, receipts with their ``Transfer`` logs,
chain parameters, Stake 2.0 delegations, an order book keyed by our order number), so a test of the
state machine exercises behaviour, not calls.
They are deliberately small; the devnet-backed suites check the same flows against the real adapter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.pool import StaticPool

from sweeper.chain import size
from sweeper.chain.addresses import abi_word
from sweeper.chain.logs import TRANSFER_TOPIC
from sweeper.chain.txid import txid as txid_of
from sweeper.energy.base import Capabilities, RentalSource
from sweeper.energy.burn import BurnSource
from sweeper.energy.journal import MemoryJournal
from sweeper.energy.stake import StakeSource
from sweeper.errors import (
    ChainRejected,
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
    BlockRef,
    BroadcastOutcome,
    ChainParameters,
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
BYTE_PRICE_SUN = 1_000
FREE_NET = 600
EXPIRATION_MS = 60_000
SUN_PER_ENERGY_STAKED = 100_000
SUN_PER_BYTE_STAKED = 1_000_000
MAINNET_PARAMETERS = ChainParameters(
    energy_fee=ENERGY_PRICE_SUN,
    transaction_fee=BYTE_PRICE_SUN,
    create_account_fee=100_000,
    create_new_account_fee_in_system_contract=1_000_000,
    free_net_limit=FREE_NET,
    max_fee_limit=15_000_000_000,
)


@dataclass
class _Tx:
    kind: str
    owner: str
    to: str
    amount: int
    contract: str = ""
    fee_limit: int = 0
    expiration_ms: int = 0
    resource: str = ""
    net_fee: int = 0

    @property
    def size(self) -> int:
        if self.kind == "token":
            return size.trc20_transfer_bytes(self.owner, self.contract, self.to, self.amount, self.fee_limit)
        if self.kind == "trx":
            return size.trx_transfer_bytes(self.owner, self.to, self.amount)
        return size.delegate_bytes(self.owner, self.to, self.amount, resource=self.resource or "ENERGY")


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
    solid_depth: int = 2
    block_times: dict[int, int] = field(default_factory=dict)
    params: ChainParameters = MAINNET_PARAMETERS
    staked_net: dict[str, int] = field(default_factory=dict)
    token_energy: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per token (holder, new holder) base energy of a transfer; USDT's figures by default."""
    energy_factor: dict[str, float] = field(default_factory=dict)
    """Per token multiplier on its energy (1.0 = as listed), like java-tron's dynamic energy."""
    measurements: int = 0
    account_reads: int = 0
    omit_transfer_log: bool = False
    """Receipts of token transfers come back SUCCESS without their Transfer log (a non-standard token)."""
    stake: dict[str, int] = field(default_factory=dict)
    delegated: dict[tuple[str, str, str], int] = field(default_factory=dict)
    refuse_bandwidth: bool = False

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
        """Include every pending unexpired transaction in the next block, then ``blocks - 1`` empty ones."""
        self.head += 1
        self.now_ms += 3_000
        self.block_times[self.head] = self.now_ms
        for txid in self.pool:
            tx = self.txs[txid]
            if self.now_ms < tx.expiration_ms:
                self.receipts[txid] = self._execute(txid, tx)
        self.pool.clear()
        for _ in range(blocks - 1):
            self.head += 1
            self.now_ms += 3_000
            self.block_times[self.head] = self.now_ms

    def spend_free_bandwidth(self, address: str, size: int) -> None:
        """As if ``address`` had sent a transaction of ``size`` bytes today."""
        self.bandwidth[address] = max(0, self.bandwidth.get(address, FREE_NET) - size)

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
        return self._held(address) if address in self.activated else Resources(0)

    def account(self, address: str) -> Resources | None:
        self._up()
        self.account_reads += 1
        return self._held(address) if address in self.activated else None

    def _held(self, address: str) -> Resources:
        return Resources(
            self.energy.get(address, 0),
            free_bandwidth=self.bandwidth.get(address, 0),
            staked_bandwidth=self.staked_net.get(address, 0),
            trx=self.trx.get(address, 0),
        )

    def is_blacklisted(self, contract: str, address: str) -> bool:
        self._up()
        return address in self.blacklisted

    def transfer_cost(self, contract: str, to: str) -> int:
        """What a transfer of ``contract`` to ``to`` uses now (the chain's own rule, not a measurement)."""
        holder, new_holder = self.token_energy.get(
            contract, (ENERGY_TRANSFER_TO_HOLDER, ENERGY_TRANSFER_TO_NEW_HOLDER)
        )
        base = holder if self.tokens.get((contract, to), 0) > 0 else new_holder
        return round(base * self.energy_factor.get(contract, 1.0))

    def measure_transfer_energy(self, contract: str, owner: str, to: str, amount: int) -> int:
        self._up()
        self.measurements += 1
        if self.tokens.get((contract, owner), 0) < amount or owner in self.blacklisted:
            raise ChainRejected("transfer would revert", reason="transfer_would_fail")
        return self.transfer_cost(contract, to)

    def chain_parameters(self) -> ChainParameters:
        self._up()
        return self.params

    def energy_price_sun(self) -> int:
        return self.params.energy_fee

    def head_block(self) -> BlockRef:
        self._up()
        return BlockRef(self.head, self.now_ms)

    def solid_block(self) -> BlockRef:
        self._up()
        number = max(0, self.head - self.solid_depth)
        return BlockRef(number, self.block_times.get(number, self.now_ms - 3_000 * self.solid_depth))

    def solid_block_number(self) -> int:
        return self.solid_block().number

    def block_heights(self) -> tuple[int, int]:
        self._up()
        return self.head, self.solid_block().number

    def solid_lag(self) -> int:
        head, solid = self.block_heights()
        return head - solid

    def block_seconds(self) -> float:
        """Blocks come every 3 s here, as on mainnet (``mine``)."""
        self._up()
        return 3.0

    def solid_receipt(self, txid: str) -> Receipt | None:
        self._up()
        receipt = self.receipts.get(txid)
        return receipt if receipt is not None and receipt.block_number <= self.solid_block().number else None

    # -- Stake 2.0 ------------------------------------------------------------------------------------

    def build_delegate_energy(self, owner: object, receiver: str, balance_sun: int) -> SignedTx:
        return self._sign(_Tx("delegate", _address(owner), receiver, balance_sun, resource="ENERGY"))

    def build_undelegate_energy(self, owner: object, receiver: str, balance_sun: int) -> SignedTx:
        return self._sign(_Tx("undelegate", _address(owner), receiver, balance_sun, resource="ENERGY"))

    def build_delegate_bandwidth(self, owner: object, receiver: str, balance_sun: int) -> SignedTx:
        return self._sign(_Tx("delegate", _address(owner), receiver, balance_sun, resource="BANDWIDTH"))

    def build_undelegate_bandwidth(self, owner: object, receiver: str, balance_sun: int) -> SignedTx:
        return self._sign(_Tx("undelegate", _address(owner), receiver, balance_sun, resource="BANDWIDTH"))

    def can_delegate_max_sun(self, owner: str, resource: str = "ENERGY") -> int:
        self._up()
        return self.stake.get(owner, 0)

    def delegated_energy_sun(self, owner: str, receiver: str) -> int:
        return self.delegated.get((owner, receiver, "ENERGY"), 0)

    def delegated_bandwidth_sun(self, owner: str, receiver: str) -> int:
        return self.delegated.get((owner, receiver, "BANDWIDTH"), 0)

    def sun_per_energy_staked(self) -> int:
        return SUN_PER_ENERGY_STAKED

    def sun_per_bandwidth_staked(self) -> int:
        return SUN_PER_BYTE_STAKED

    def build_token_transfer(
        self, contract: str, owner: object, to: str, amount: int, fee_limit_sun: int
    ) -> SignedTx:
        return self._sign(_Tx("token", _address(owner), to, amount, contract, fee_limit_sun))

    def build_trx_transfer(self, owner: object, to: str, amount_sun: int) -> SignedTx:
        return self._sign(_Tx("trx", _address(owner), to, amount_sun))

    def broadcast(self, tx: SignedTx) -> BroadcastOutcome:
        """java-tron's order: expiry by the head block, duplicate, then the bytes (paid at once, in the
        pending state: stake, else the free allowance, else TRX; ``BANDWITH_ERROR`` if none can)."""
        self._up()
        self.broadcasts.append(tx.txid)
        if self.now_ms >= tx.expiration_ms:
            return BroadcastOutcome.EXPIRED
        if tx.txid in self.pool or tx.txid in self.receipts:
            return BroadcastOutcome.ALREADY_KNOWN
        stored = self.txs[tx.txid]
        if not self._pay_bytes(stored, charge=not self.drop_broadcasts):  # a dropped one is never charged
            return BroadcastOutcome.NO_BANDWIDTH
        if not self.drop_broadcasts:
            self.pool.append(tx.txid)
        return BroadcastOutcome.SENT

    def _pay_bytes(self, tx: _Tx, *, charge: bool) -> bool:
        bytes_ = tx.size
        owner = tx.owner
        if self.refuse_bandwidth:
            return False
        if self.staked_net.get(owner, 0) >= bytes_:
            if charge:
                self.staked_net[owner] -= bytes_
        elif self.bandwidth.get(owner, 0) >= bytes_:
            if charge:
                self.bandwidth[owner] -= bytes_
        elif self.trx.get(owner, 0) >= bytes_ * self.params.transaction_fee:
            if charge:
                tx.net_fee = bytes_ * self.params.transaction_fee
                self.trx[owner] -= tx.net_fee
        else:
            return False
        return True

    def receipt(self, txid: str) -> Receipt | None:
        self._up()
        return self.receipts.get(txid)

    def transaction_known(self, txid: str) -> bool:
        self._up()
        return txid in self.pool or txid in self.receipts

    def head_block_number(self) -> int:
        self._up()
        return self.head

    def trx_balance_of(self, address: str) -> int:
        return self.trx.get(address, 0)

    # -- internals ----------------------------------------------------------------------------------

    def _up(self) -> None:
        if self.down:
            raise ChainUnavailable("the in-memory node is down")

    def _sign(self, tx: _Tx) -> SignedTx:
        self._up()
        self.counter += 1
        tx.expiration_ms = self.now_ms + EXPIRATION_MS
        value = {"owner": tx.owner, "to": tx.to, "amount": tx.amount, "resource": tx.resource}
        body = {"n": self.counter, **tx.__dict__, "raw_data": {"contract": [{"parameter": {"value": value}}]}}
        txid = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        self.txs[txid] = tx
        return SignedTx(txid=txid, raw_json=json.dumps(body), expiration_ms=tx.expiration_ms)

    def _execute(self, txid: str, tx: _Tx) -> Receipt:
        block = self.head
        if tx.kind == "trx":
            fee = tx.net_fee
            if tx.to not in self.activated:
                fee += self.params.activation_sun  # the sender creates the account (docs/TRON.md §4)
                self.trx[tx.owner] = self.trx.get(tx.owner, 0) - self.params.activation_sun
            self.trx[tx.owner] = self.trx.get(tx.owner, 0) - tx.amount
            self.fund(tx.to, tx.amount)
            return Receipt(txid, block, True, "SUCCESS", fee_sun=fee, net_fee_sun=tx.net_fee)
        if tx.kind in ("delegate", "undelegate"):
            sign = 1 if tx.kind == "delegate" else -1
            key = (tx.owner, tx.to, tx.resource)
            self.delegated[key] = self.delegated.get(key, 0) + sign * tx.amount
            self.stake[tx.owner] = self.stake.get(tx.owner, 0) - sign * tx.amount
            if tx.resource == "BANDWIDTH":
                units = tx.amount // SUN_PER_BYTE_STAKED
                self.staked_net[tx.to] = max(0, self.staked_net.get(tx.to, 0) + sign * units)
            else:
                units = tx.amount // SUN_PER_ENERGY_STAKED
                self.energy[tx.to] = max(0, self.energy.get(tx.to, 0) + sign * units)
            return Receipt(txid, block, True, "SUCCESS", fee_sun=tx.net_fee, net_fee_sun=tx.net_fee)
        need = self.transfer_cost(tx.contract, tx.to)
        have = self.energy.get(tx.owner, 0)
        if self.revert_transfers:
            self.energy[tx.owner] = max(0, have - need)
            return Receipt(txid, block, False, "REVERT", message="the contract reverted")
        burn = max(0, need - have) * self.params.energy_fee
        limit = min(tx.fee_limit, self.trx.get(tx.owner, 0) + have * self.params.energy_fee)
        if need * self.params.energy_fee > tx.fee_limit or burn > self.trx.get(tx.owner, 0) or burn > limit:
            self.energy[tx.owner] = 0
            fee = tx.net_fee
            return Receipt(txid, block, False, "OUT_OF_ENERGY", fee_sun=fee, message="not enough energy")
        self.energy[tx.owner] = max(0, have - need)
        self.trx[tx.owner] = self.trx.get(tx.owner, 0) - burn
        self.tokens[(tx.contract, tx.owner)] -= tx.amount
        self.mint(tx.to, tx.amount, tx.contract)
        logs: tuple[dict[str, object], ...] = ()
        if not self.omit_transfer_log:
            topics = [TRANSFER_TOPIC, abi_word(tx.owner), abi_word(tx.to)]
            logs = ({"address": tx.contract, "topics": topics, "data": format(tx.amount, "064x")},)
        return Receipt(
            txid,
            block,
            True,
            "SUCCESS",
            fee_sun=burn + tx.net_fee,
            energy_usage_total=need,
            net_fee_sun=tx.net_fee,
            logs=logs,
        )


def _address(owner: object) -> str:
    address = getattr(owner, "address", owner)
    return str(address)


@dataclass
class MemorySigner:
    """Knows its address; its "signature" is a fixed-size stand-in the in-memory chain never checks.

    ``refuse`` makes it answer like a signer service that will not sign (``SignerRejected``), ``away``
    like one that cannot be reached now (``SignerUnavailable``); ``probes`` counts the can-sign probes,
    ``signed`` the txids it signed.
    """

    address: str
    refuse: bool = False
    away: bool = False
    probes: int = 0
    signed: list[bytes] = field(default_factory=list)

    def _answer(self) -> None:
        if self.away:
            raise SignerUnavailable("the signing service is down")
        if self.refuse:
            raise SignerRejected(f"the signing service refuses to sign for {self.address}")

    def probe(self) -> None:
        self._answer()
        self.probes += 1

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: object) -> bytes:
        self._answer()
        digest = bytes.fromhex(txid_of(raw_data))
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
        maximum: int | None = None,
    ) -> None:
        self.name = name
        self.maximum = maximum
        """Quotes never exceed this (a provider that sizes the energy itself, like collect-manual)."""
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
        if self.maximum is not None:
            amount = min(amount, self.maximum)
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
    sources: dict[str, Any]
    keyring: MemoryKeyring
    clock: Clock
    skew: float = 0.0
    """How far the workers' clock is ahead of chain time (negative: behind)."""

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
        """Let time pass: the clock moves and the chain mines what is pending (its last block is now)."""
        self.clock.now += seconds
        chain_now = int((self.clock.now - self.skew) * 1000)
        self.chain.now_ms = max(self.chain.now_ms, chain_now - 3_000 * blocks)
        self.chain.mine(blocks)

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


GAS_WALLET = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"
STAKE_OWNER = "TPYmHEhy5n8TCEfYGqW2rPxsghSfzghPDn"


def heart(
    *,
    prices: dict[str, int] | None = None,
    activation: dict[str, bool] | None = None,
    locks: object | None = None,
    wallets: tuple[str, ...] = (),
    **config: object,
) -> Heart:
    """A state machine over in-memory seams; ``prices`` names the sources (in preference order).

    A source named ``stake`` is our own stake (:class:`MemoryStake`), one named ``burn`` a gas wallet
    (:class:`MemoryBurn`); every other is a rental provider at its price per energy. ``wallets`` adds
    the real ``StakeSource`` / ``BurnSource`` ("stake", "burn") over the same chain instead.
    """
    clock = Clock()
    chain = MemoryChain(now_ms=int(clock.now * 1000))
    chain.block_times[chain.head] = chain.now_ms
    chain.mint(HOT, 1)
    names = prices if prices is not None else {"cheap": 40, "dear": 60}
    sources: dict[str, Any] = {}
    for name, price in names.items():
        if name == "stake":
            sources[name] = MemoryStake(name, chain)
        elif name == "burn":
            sources[name] = MemoryBurn(name, chain)
        else:
            sources[name] = MemorySource(
                name, chain, price=price, activation=(activation or {}).get(name, True)
            )
    if "stake" in wallets:
        chain.fund(STAKE_OWNER, 10_000_000)
        chain.stake[STAKE_OWNER] = 10**15
        sources["stake"] = StakeSource(chain, MemorySigner(STAKE_OWNER), journal=MemoryJournal())  # type: ignore[arg-type]
    if "burn" in wallets:
        chain.fund(GAS_WALLET, 1_000_000_000)
        sources["burn"] = BurnSource(
            chain,  # type: ignore[arg-type]
            MemorySigner(GAS_WALLET),
            journal=MemoryJournal(),
            max_sun_per_sweep=20_000_000,
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
