"""TronChain against the real devnet node over HTTP: queries, transfers, receipts, blocks, delegation."""

from __future__ import annotations

import httpx
import pytest

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.chain import TokenTransfer, TronChain
from sweeper.errors import AccountNotActivated, ChainRejected
from sweeper.keys import LocalSigner
from sweeper.models import (
    ENERGY_TRANSFER_TO_HOLDER,
    ENERGY_TRANSFER_TO_NEW_HOLDER,
    BroadcastOutcome,
    Receipt,
    Resources,
)
from tests.fixtures.devnet import admin

pytestmark = pytest.mark.integration

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRX = 1_000_000
FEE_LIMIT = 20 * TRX  # covers 130,285 energy burned at 100 sun


def new_key() -> LocalSigner:
    priv, _ = generate_key()
    return LocalSigner(priv)


def mined(devnet: Devnet, chain: TronChain, txid: str) -> Receipt:
    """Mine blocks until the transaction's receipt appears (a bounded number of blocks, no sleeping)."""
    for _ in range(10):
        devnet.chain.produce_blocks(1)
        receipt = chain.receipt(txid)
        if receipt is not None:
            return receipt
    raise AssertionError(f"{txid} not mined within 10 blocks")


def test_an_address_counts_as_activated_only_once_it_has_received_trx(
    devnet: Devnet, chain: TronChain
) -> None:
    _, address = generate_key()
    devnet.chain.mint(address, 5 * TRX)
    devnet.chain.produce_blocks(1)

    assert chain.is_activated(address) is False
    assert chain.trx_balance(address) == 0
    assert chain.resources(address) == Resources(0)
    assert chain.token_balance(USDT, address) == 5 * TRX

    devnet.chain.fund(address, 3 * TRX)
    devnet.chain.produce_blocks(1)

    assert chain.is_activated(address) is True
    assert chain.trx_balance(address) == 3 * TRX
    assert chain.resources(address) == Resources(energy=0, free_bandwidth=600, trx=3 * TRX)


def test_the_transfer_energy_is_measured_for_the_exact_transfer_and_depends_on_the_recipient(
    devnet: Devnet, chain: TronChain
) -> None:
    _, holder = generate_key()
    _, fresh = generate_key()
    _, sender = generate_key()
    devnet.chain.mint(holder, 1)
    devnet.chain.mint(sender, 5 * TRX)
    devnet.chain.produce_blocks(1)

    assert chain.measure_transfer_energy(USDT, sender, holder, 5 * TRX) == ENERGY_TRANSFER_TO_HOLDER
    assert chain.measure_transfer_energy(USDT, sender, fresh, 5 * TRX) == ENERGY_TRANSFER_TO_NEW_HOLDER


def test_chain_parameters_and_chain_time_are_read_from_the_node(devnet: Devnet, chain: TronChain) -> None:
    params = chain.chain_parameters()
    assert (params.energy_fee, params.transaction_fee, params.free_net_limit) == (100, 1_000, 600)
    assert params.activation_sun == 1_100_000
    head, solid = chain.head_block(), chain.solid_block()
    assert head.number >= solid.number and head.timestamp_ms >= solid.timestamp_ms > 0


def test_a_usdt_transfer_is_built_signed_broadcast_and_confirmed_by_its_receipt(
    devnet: Devnet, chain: TronChain
) -> None:
    owner = new_key()
    _, recipient = generate_key()
    devnet.chain.fund(owner.address, 40 * TRX)
    devnet.chain.mint(owner.address, 100 * TRX)
    devnet.chain.produce_blocks(1)

    first = chain.build_token_transfer(USDT, owner, recipient, 30 * TRX, fee_limit_sun=FEE_LIMIT)
    chain.broadcast(first)
    to_new_holder = mined(devnet, chain, first.txid)
    assert chain.transaction_known(first.txid)

    second = chain.build_token_transfer(USDT, owner, recipient, 20 * TRX, fee_limit_sun=FEE_LIMIT)
    chain.broadcast(second)
    to_holder = mined(devnet, chain, second.txid)

    assert to_new_holder.success and to_new_holder.result == "SUCCESS"
    assert to_new_holder.energy_usage_total == ENERGY_TRANSFER_TO_NEW_HOLDER
    assert to_holder.success
    assert to_holder.energy_usage_total == ENERGY_TRANSFER_TO_HOLDER
    assert to_holder.energy_fee_sun == ENERGY_TRANSFER_TO_HOLDER * chain.energy_price_sun()
    assert chain.token_balance(USDT, recipient) == 50 * TRX

    transfers = chain.block_transfers(to_new_holder.block_number, to_holder.block_number, [USDT])
    assert (
        TokenTransfer(USDT, first.txid, to_new_holder.block_number, owner.address, recipient, 30 * TRX)
        in transfers
    )
    assert [t.txid for t in transfers if t.to_address == recipient] == [first.txid, second.txid]


def test_rebroadcasting_the_same_signed_transaction_is_reported_as_a_duplicate(
    devnet: Devnet, chain: TronChain
) -> None:
    owner = new_key()
    _, recipient = generate_key()
    devnet.chain.fund(owner.address, 40 * TRX)
    devnet.chain.mint(owner.address, 10 * TRX)
    devnet.chain.produce_blocks(1)
    tx = chain.build_token_transfer(USDT, owner, recipient, 1 * TRX, fee_limit_sun=FEE_LIMIT)
    assert chain.broadcast(tx) is BroadcastOutcome.SENT

    assert chain.broadcast(tx) is BroadcastOutcome.ALREADY_KNOWN  # still pending
    mined(devnet, chain, tx.txid)
    assert chain.broadcast(tx) is BroadcastOutcome.ALREADY_KNOWN  # already in a block
    assert chain.token_balance(USDT, recipient) == 1 * TRX


def test_an_unactivated_owner_cannot_build_a_transfer(devnet: Devnet, chain: TronChain) -> None:
    owner = new_key()
    _, recipient = generate_key()
    devnet.chain.mint(owner.address, 10 * TRX)
    devnet.chain.produce_blocks(1)

    with pytest.raises(AccountNotActivated):
        chain.build_token_transfer(USDT, owner, recipient, 1 * TRX, fee_limit_sun=FEE_LIMIT)


def test_an_unknown_transaction_has_no_receipt_and_is_not_known(chain: TronChain) -> None:
    assert chain.receipt("00" * 32) is None
    assert chain.transaction_known("00" * 32) is False


def test_a_trx_transfer_activates_the_recipient(devnet: Devnet, chain: TronChain) -> None:
    owner = new_key()
    _, recipient = generate_key()
    devnet.chain.fund(owner.address, 10 * TRX)
    devnet.chain.produce_blocks(1)

    tx = chain.build_trx_transfer(owner, recipient, 2 * TRX)
    chain.broadcast(tx)
    receipt = mined(devnet, chain, tx.txid)

    assert receipt.success and receipt.energy_usage_total == 0
    assert chain.is_activated(recipient)
    assert chain.trx_balance(recipient) == 2 * TRX


def test_energy_is_delegated_from_a_pool_and_reclaimed(devnet: Devnet, chain: TronChain) -> None:
    pool = new_key()
    _, receiver = generate_key()
    devnet.chain.create_pool(pool.address, 100 * TRX, 100_000 * 100_000)
    devnet.chain.fund(receiver, 1 * TRX)
    devnet.chain.produce_blocks(1)
    can_delegate = chain.can_delegate_max_sun(pool.address)
    ratio = chain.sun_per_energy_staked()
    balance = ENERGY_TRANSFER_TO_HOLDER * ratio

    assert ratio == 100_000
    assert can_delegate == 100_000 * 100_000
    delegate = chain.build_delegate_energy(pool, receiver, balance)
    chain.broadcast(delegate)
    assert mined(devnet, chain, delegate.txid).success

    assert chain.delegated_energy_sun(pool.address, receiver) == balance
    assert chain.resources(receiver).energy >= ENERGY_TRANSFER_TO_HOLDER

    undelegate = chain.build_undelegate_energy(pool, receiver, balance)
    chain.broadcast(undelegate)
    assert mined(devnet, chain, undelegate.txid).success
    assert chain.delegated_energy_sun(pool.address, receiver) == 0
    assert chain.resources(receiver).energy == 0


def test_the_stake_ratio_is_read_through_the_reference_account(devnet: Devnet) -> None:
    _, reference = generate_key()
    devnet.chain.fund(reference, 1 * TRX)
    devnet.chain.produce_blocks(1)

    with httpx.Client() as http:
        chain = TronChain(devnet.node_url, http=http, reference_address=reference)
        assert chain.sun_per_energy_staked() == 100_000


def test_delegating_to_an_unactivated_receiver_is_refused(devnet: Devnet, chain: TronChain) -> None:
    pool = new_key()
    _, receiver = generate_key()
    devnet.chain.create_pool(pool.address, 100 * TRX, 100_000 * 100_000)
    devnet.chain.produce_blocks(1)

    tx = chain.build_delegate_energy(pool, receiver, 10 * TRX)
    with pytest.raises(ChainRejected):
        chain.broadcast(tx)


def test_a_blacklisted_address_is_reported_as_blacklisted(devnet: Devnet, chain: TronChain) -> None:
    _, listed = generate_key()
    _, clean = generate_key()
    admin(devnet, "devnet/blacklist", {"address": listed})

    assert chain.is_blacklisted(USDT, listed) is True
    assert chain.is_blacklisted(USDT, clean) is False


def test_chain_parameters_and_block_numbers_are_read_from_the_node(devnet: Devnet, chain: TronChain) -> None:
    devnet.chain.produce_blocks(3)

    assert chain.energy_price_sun() == 100
    head, solid = chain.head_block_number(), chain.solid_block_number()
    assert head >= 3
    assert solid <= head


def test_the_block_interval_is_measured_from_the_block_headers(devnet: Devnet, chain: TronChain) -> None:
    # Blocks sit on slots of the devnet's block time (0.2 s here; 3 s on mainnet): a sweep waiting for
    # blocks waits at the chain's pace, whatever it is.
    devnet.chain.produce_blocks(25)

    assert 0.2 <= chain.block_seconds() < 0.5
    assert chain.block_seconds() == chain.block_seconds()  # read once, then kept


def test_a_node_that_cannot_tell_the_block_interval_gets_trons_and_stops_nothing(
    devnet: Devnet, chain: TronChain
) -> None:
    devnet.chain.produce_blocks(25)
    devnet.faults.set("node", error_rate=1.0, status=404)  # e.g. a gateway that does not pass getblock

    assert chain.block_seconds() == 3.0  # TRON's interval, and no error: it only paces waits
    devnet.faults.clear()
    assert chain.block_seconds() == 3.0  # the node is asked again a minute later, not on every look


def test_block_transfers_ignores_other_contracts_and_empty_ranges(devnet: Devnet, chain: TronChain) -> None:
    _, address = generate_key()
    devnet.chain.mint(address, 7)
    head = devnet.chain.produce_blocks(1)
    other_token = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"

    [minted] = chain.block_transfers(head, head, [USDT])
    assert (minted.to_address, minted.amount, minted.block_number) == (address, 7, head)
    assert chain.block_transfers(head, head, [other_token]) == []
    assert chain.block_transfers(head, head, []) == []
    assert chain.block_transfers(head + 1, head, [USDT]) == []


class _Counted:
    """An HTTP client that records each request's path, so a test sees how many round trips a read is."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.http = httpx.Client(event_hooks={"request": [lambda r: self.paths.append(r.url.path)]})


def test_one_account_read_says_activated_and_what_it_holds_in_two_requests_not_three(
    devnet: Devnet,
) -> None:
    counted = _Counted()
    chain = TronChain(devnet.node_url, http=counted.http)
    _, address = generate_key()
    _, fresh = generate_key()
    devnet.chain.fund(address, 3 * TRX)
    devnet.chain.produce_blocks(1)
    try:
        have = chain.account(address)
        assert counted.paths == ["/wallet/getaccount", "/wallet/getaccountresource"]
        assert have is not None and have == chain.resources(address)
        assert have.trx == 3 * TRX and have.free_bandwidth > 0
        counted.paths.clear()
        assert chain.account(fresh) is None  # not on chain: one request says so
        assert counted.paths == ["/wallet/getaccount"]
        assert chain.resources(fresh) == Resources(0)
    finally:
        counted.http.close()


def test_head_and_solid_heights_come_from_one_node_info(devnet: Devnet) -> None:
    counted = _Counted()
    chain = TronChain(devnet.node_url, http=counted.http)
    devnet.chain.produce_blocks(3)
    try:
        head, solid = chain.block_heights()
        assert counted.paths == ["/wallet/getnodeinfo"]
        assert (head, solid) == (chain.head_block_number(), chain.solid_block_number())
        assert solid <= head
    finally:
        counted.http.close()
