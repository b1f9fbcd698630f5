"""Chain time over HTTP: block timestamps on slots of the block time, expiry judged by the head block."""

from __future__ import annotations

import itertools
import time

import pytest
from tronpy.exceptions import TransactionError
from tronpy.keys import PrivateKey

from tests.fixtures.devnet import TRX, admin, node_call, tron_client

pytestmark = pytest.mark.integration


def test_block_timestamps_sit_on_slots_of_the_block_time(devnet):
    admin(devnet, "devnet/produce", {"blocks": 3})
    head = devnet.chain.head_number()
    stamps = [
        node_call(devnet, "wallet/getblockbynum", {"num": n})["block_header"]["raw_data"]["timestamp"]
        for n in range(head + 1)
    ]

    assert all((t - stamps[0]) % 200 == 0 for t in stamps)
    assert all(b - a >= 200 for a, b in itertools.pairwise(stamps))


def test_after_a_burst_of_produced_blocks_production_waits_for_the_clock_to_catch_up(devnet):
    head = admin(devnet, "devnet/produce", {"blocks": 25})["head"]  # 5 s of 0.2 s slots at once
    ahead = devnet.chain.head_time() - time.time() * 1000

    time.sleep(1.0)

    assert ahead > 3_000
    assert devnet.chain.head_number() == head  # no block before its slot comes
    assert devnet.chain.head_time() - time.time() * 1000 < ahead


def test_a_transaction_that_cannot_make_the_next_slot_is_refused_and_one_built_from_the_head_is_mined(
    devnet, funded_account
):
    priv, sender = funded_account(sun=5 * TRX)
    _, receiver = funded_account(sun=TRX)
    key = PrivateKey(bytes.fromhex(priv))
    client = tron_client(devnet)
    admin(devnet, "devnet/produce", {"blocks": 20})  # 4 s ahead of the wall clock
    head = devnet.chain.head_time()

    late = client.trx.transfer(sender, receiver, TRX).expiration(2_000).build().sign(key)  # local clock + 2 s
    with pytest.raises(TransactionError, match="expired"):
        late.broadcast()
    on_head = client.trx.transfer(sender, receiver, TRX).build()
    assert on_head._raw_data["expiration"] > head  # tronpy: local clock + 60 s, still ahead of the head
    info = on_head.sign(key).broadcast().wait(interval=0.2)
    assert info["blockTimeStamp"] > head
