"""Stake (DelegateResource from our own stake) and burn (TRX from a gas wallet): one transaction per order.

``MemoryChain`` is a small in-memory stand-in for the parts of the Chain port these sources use; the
devnet-backed tests in tests/integration/test_energy_stake_burn.py use the real adapter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest

from sweeper.energy.burn import BurnSource
from sweeper.energy.journal import MemoryJournal
from sweeper.energy.stake import StakeSource, delegation_sun
from sweeper.errors import (
    PolicyRefused,
    ProviderInvalidRequest,
    ProviderOutOfResources,
)
from sweeper.models import (
    BlockRef,
    BroadcastOutcome,
    ChainParameters,
    EnergyOrder,
    OrderStatus,
    Receipt,
    Resources,
    SignedTx,
)

pytestmark = pytest.mark.unit

OWNER = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
DEPOSIT = "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw"
ACTIVATION_SUN = 1_100_000
PARAMETERS = ChainParameters(
    energy_fee=100,
    transaction_fee=1_000,
    create_account_fee=100_000,
    create_new_account_fee_in_system_contract=1_000_000,
    free_net_limit=600,
)


@dataclass
class KeyStub:
    address: str

    def sign_digest(self, digest: bytes) -> bytes:
        return digest + digest + b"\x00"


@dataclass
class MemoryChain:
    activated: set[str] = field(default_factory=lambda: {OWNER})
    trx: dict[str, int] = field(default_factory=dict)
    bandwidth: dict[str, int] = field(default_factory=dict)
    delegated: dict[tuple[str, str], int] = field(default_factory=dict)
    capacity: int = 10**13
    rate: int = 100_000
    txs: dict[str, tuple[str, str, str, int]] = field(default_factory=dict)
    pool: list[str] = field(default_factory=list)
    mined: dict[str, Receipt] = field(default_factory=dict)
    broadcasts: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    counter: int = 0

    def _tx(self, kind: str, owner: str, to: str, amount: int) -> SignedTx:
        self.counter += 1
        txid = hashlib.sha256(f"{kind}{owner}{to}{amount}{self.counter}".encode()).hexdigest()
        self.txs[txid] = (kind, owner, to, amount)
        return SignedTx(txid=txid, raw_json="{}", expiration_ms=0)

    def is_activated(self, address: str) -> bool:
        return address in self.activated

    def trx_balance(self, address: str) -> int:
        return self.trx.get(address, 0)

    def resources(self, address: str) -> Resources:
        if address not in self.activated:
            return Resources(0)
        return Resources(0, free_bandwidth=self.bandwidth.get(address, 600), trx=self.trx.get(address, 0))

    def account(self, address: str) -> Resources | None:
        return self.resources(address) if address in self.activated else None

    def chain_parameters(self) -> ChainParameters:
        return PARAMETERS

    def solid_block(self) -> BlockRef:
        return BlockRef(1, 10**13)  # long past every expiration of these stand-in transactions

    def solid_receipt(self, txid: str) -> Receipt | None:
        return self.mined.get(txid)

    def build_delegate_energy(self, owner, receiver: str, balance_sun: int) -> SignedTx:
        return self._tx("delegate", owner.address, receiver, balance_sun)

    def build_undelegate_energy(self, owner, receiver: str, balance_sun: int) -> SignedTx:
        return self._tx("undelegate", owner.address, receiver, balance_sun)

    def build_trx_transfer(self, owner, to: str, amount_sun: int) -> SignedTx:
        return self._tx("trx", owner.address, to, amount_sun)

    def broadcast(self, tx: SignedTx) -> BroadcastOutcome:
        self.broadcasts.append(tx.txid)
        if tx.txid in self.expired:
            return BroadcastOutcome.EXPIRED
        if tx.txid in self.pool or tx.txid in self.mined:
            return BroadcastOutcome.ALREADY_KNOWN
        self.pool.append(tx.txid)
        return BroadcastOutcome.SENT

    def mine(self) -> None:
        for txid in self.pool:
            kind, owner, to, amount = self.txs[txid]
            if kind == "delegate":
                self.delegated[(owner, to)] = self.delegated.get((owner, to), 0) + amount
            elif kind == "undelegate":
                self.delegated[(owner, to)] -= amount
            else:
                self.trx[to] = self.trx.get(to, 0) + amount
                self.activated.add(to)
            self.mined[txid] = Receipt(txid=txid, block_number=1, success=True, result="SUCCESS")
        self.pool.clear()

    def receipt(self, txid: str) -> Receipt | None:
        return self.mined.get(txid)

    def transaction_known(self, txid: str) -> bool:
        return txid in self.mined or txid in self.pool

    def can_delegate_max_sun(self, owner: str, resource: str = "ENERGY") -> int:
        return self.capacity

    def delegated_energy_sun(self, owner: str, receiver: str) -> int:
        return self.delegated.get((owner, receiver), 0)

    def sun_per_energy_staked(self) -> int:
        return self.rate

    def energy_price_sun(self) -> int:
        return 100


def stake(chain: MemoryChain, **kw) -> StakeSource:
    return StakeSource(chain, KeyStub(OWNER), journal=MemoryJournal(), **kw)


def burn(chain: MemoryChain, cap: int = 15_000_000) -> BurnSource:
    return BurnSource(chain, KeyStub(OWNER), journal=MemoryJournal(), max_sun_per_sweep=cap)


def test_delegation_covers_the_energy_in_whole_trx_and_at_least_one_trx():
    assert delegation_sun(65_000, 100_000) == 6_500_000_000 + 1_000_000
    assert delegation_sun(1, 10) == 1_000_000


def test_stake_costs_nothing_unless_an_opportunity_cost_is_set():
    chain = MemoryChain(activated={OWNER, DEPOSIT})
    assert stake(chain).quote(DEPOSIT, 65_000).total_sun == 0
    assert stake(chain, opportunity_sun_per_energy=2).quote(DEPOSIT, 65_000).cost_sun == 130_000


def test_stake_refuses_beyond_what_the_account_can_delegate_and_cannot_activate():
    chain = MemoryChain(activated={OWNER, DEPOSIT}, capacity=1_000_000_000)
    with pytest.raises(ProviderOutOfResources):
        stake(chain).quote(DEPOSIT, 65_000)
    with pytest.raises(ProviderInvalidRequest):
        stake(chain).quote(DEPOSIT, 100, activate=True)


def test_a_stake_order_is_one_delegation_however_often_it_is_placed():
    chain = MemoryChain(activated={OWNER, DEPOSIT})
    source = stake(chain)
    first = source.order("s1-1", DEPOSIT, 65_000)
    again = source.order("s1-1", DEPOSIT, 65_000)
    assert first.provider_order_id == again.provider_order_id == first.delegate_txid
    assert len([t for t in chain.txs.values() if t[0] == "delegate"]) == 1
    assert source.status(first).status is OrderStatus.PENDING
    chain.mine()
    assert source.status(first).status is OrderStatus.DELIVERED
    assert source.lookup("s1-1").status is OrderStatus.DELIVERED
    assert source.order("s1-1", DEPOSIT, 65_000).provider_order_id == first.provider_order_id
    assert chain.delegated[(OWNER, DEPOSIT)] == delegation_sun(65_000, 100_000)


def test_an_expired_delegation_that_never_reached_the_chain_is_replaced():
    chain = MemoryChain(activated={OWNER, DEPOSIT})
    source = stake(chain)
    first = source.order("s2-1", DEPOSIT, 65_000)
    chain.pool.clear()  # the node dropped it
    chain.expired.add(first.provider_order_id)
    second = source.order("s2-1", DEPOSIT, 65_000)
    assert second.provider_order_id != first.provider_order_id
    assert source.lookup("s2-1").provider_order_id == second.provider_order_id


def test_reclaim_undelegates_what_the_order_delegated_once():
    chain = MemoryChain(activated={OWNER, DEPOSIT})
    source = stake(chain)
    order = source.order("s3-1", DEPOSIT, 65_000)
    chain.mine()
    txid = source.reclaim(order)
    assert txid is not None and source.reclaim(order) == txid
    chain.mine()
    assert chain.delegated[(OWNER, DEPOSIT)] == 0
    assert source.reclaim(EnergyOrder("stake", "s4-1", DEPOSIT, 1)) is None


def test_with_reclaim_off_the_source_declares_it_cannot_reclaim_and_the_class_is_unchanged():
    source = stake(MemoryChain(activated={OWNER, DEPOSIT}), reclaim=False)
    assert source.capabilities.reclaim is False and source.capabilities.bandwidth
    assert StakeSource.capabilities.reclaim is True
    assert stake(MemoryChain()).capabilities.reclaim is True


def test_stake_unknown_order_numbers_look_up_as_none():
    assert stake(MemoryChain()).lookup("nothing") is None


def test_burn_covers_energy_at_the_chain_price_plus_bandwidth_and_activation():
    chain = MemoryChain()
    quote = burn(chain).quote(DEPOSIT, 64_285)
    assert quote.cost_sun == 64_285 * 100  # once activated, the day's free bytes pay the transfer
    assert quote.activation_sun == ACTIVATION_SUN
    chain.activated.add(DEPOSIT)
    chain.bandwidth[DEPOSIT] = 255  # swept earlier today: the bytes burn too
    assert burn(chain).quote(DEPOSIT, 64_285).cost_sun == 64_285 * 100 + 345_000
    chain.bandwidth[DEPOSIT] = 600
    chain.trx[DEPOSIT] = 1_000_000
    assert burn(chain).quote(DEPOSIT, 64_285).total_sun == 64_285 * 100 - 1_000_000


def test_burn_is_capped():
    with pytest.raises(PolicyRefused) as info:
        burn(MemoryChain(), cap=6_000_000).quote(DEPOSIT, 64_285)
    assert info.value.reason == "burn_cap"


def test_a_burn_order_sends_one_transfer_however_often_it_is_placed():
    chain = MemoryChain()
    source = burn(chain)
    first = source.order("s5-1", DEPOSIT, 64_285)
    chain.mine()
    again = source.order("s5-1", DEPOSIT, 64_285)
    assert again.provider_order_id == first.provider_order_id
    assert [t[0] for t in chain.txs.values()] == ["trx"]
    assert chain.trx[DEPOSIT] == 64_285 * 100
    assert source.status(first).status is OrderStatus.DELIVERED


def test_burn_sends_nothing_when_the_address_already_holds_enough_trx():
    chain = MemoryChain(activated={OWNER, DEPOSIT}, trx={DEPOSIT: 20_000_000})
    order = burn(chain).order("s6-1", DEPOSIT, 64_285)
    assert order.status is OrderStatus.DELIVERED and order.provider_order_id is None
    assert chain.txs == {}
