"""The devnet Chain in-process: blocks, admission checks, system operations, reservations, snapshots."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from devnet import protobuf
from devnet.chain import Chain, ChainError
from devnet.crypto import generate_key, sign_digest, to_hex_address

pytestmark = pytest.mark.unit

TRX = 1_000_000


def signed_transfer(
    chain: Chain, priv: bytes, owner: str, to: str, amount: int, *, expiration_ms: int = 60_000
):
    """A tronpy-shaped broadcast body referencing the solid block, signed by `priv`."""
    ref = chain.solid_block().block_id
    now = int(time.time() * 1000)
    raw = {
        "contract": [
            {
                "parameter": {
                    "value": {
                        "owner_address": to_hex_address(owner),
                        "to_address": to_hex_address(to),
                        "amount": amount,
                    },
                    "type_url": "type.googleapis.com/protocol.TransferContract",
                },
                "type": "TransferContract",
            }
        ],
        "timestamp": now,
        "expiration": now + expiration_ms,
        "ref_block_bytes": ref[12:16],
        "ref_block_hash": ref[16:32],
    }
    txid = protobuf.txid(raw)
    return {"raw_data": raw, "signature": [sign_digest(priv, bytes.fromhex(txid)).hex()]}


@pytest.fixture
def chain() -> Chain:
    return Chain(solid_depth=2)


def test_block_ids_embed_the_height_and_chain_to_their_parent(chain):
    head = chain.produce_blocks(3)
    blocks = [chain.block(n) for n in range(head + 1)]

    assert [int(b.block_id[:16], 16) for b in blocks] == [0, 1, 2, 3]
    assert all(b.parent_id == p.block_id for p, b in itertools.pairwise(blocks))
    assert chain.solid_number() == 1


def test_a_signed_transfer_is_admitted_mined_and_then_a_duplicate(chain):
    priv, owner = generate_key()
    _, to = generate_key()
    chain.fund(owner, 10 * TRX)
    body = signed_transfer(chain, priv, owner, to, TRX)

    txid = chain.submit(chain.parse(body))
    assert chain.tx_record(txid) is None
    chain.produce_blocks(1)

    assert chain.tx_record(txid).info["fee"] == 1_100_000
    assert chain.trx_balance(to) == TRX
    with pytest.raises(ChainError) as dup:
        chain.submit(chain.parse(body))
    assert dup.value.code == "DUP_TRANSACTION_ERROR"


def test_another_signer_fails_the_signature_check(chain):
    _, owner = generate_key()
    other, _ = generate_key()
    chain.fund(owner, 10 * TRX)

    with pytest.raises(ChainError) as err:
        chain.submit(chain.parse(signed_transfer(chain, other, owner, generate_key()[1], TRX)))
    assert err.value.code == "SIGERROR"


def test_a_tampered_reference_block_fails_tapos(chain):
    priv, owner = generate_key()
    chain.fund(owner, 10 * TRX)
    body = signed_transfer(chain, priv, owner, generate_key()[1], TRX)
    body["raw_data"]["ref_block_hash"] = "11" * 8
    body["signature"] = [sign_digest(priv, bytes.fromhex(protobuf.txid(body["raw_data"]))).hex()]

    with pytest.raises(ChainError) as err:
        chain.submit(chain.parse(body))
    assert err.value.code == "TAPOS_ERROR"


def test_a_transaction_that_expires_before_the_next_slot_is_refused_at_broadcast(chain):
    priv, owner = generate_key()
    chain.fund(owner, 10 * TRX)
    tx = chain.parse(signed_transfer(chain, priv, owner, generate_key()[1], TRX, expiration_ms=30))

    with pytest.raises(ChainError) as err:
        chain.submit(tx)

    assert err.value.code == "TRANSACTION_EXPIRATION_ERROR"
    assert tx.expiration < chain.next_slot_time()
    assert tx.txid not in chain.pending


def test_transfer_trx_activates_with_1_1_trx_charged_to_the_owner(chain):
    _, owner = generate_key()
    _, fresh = generate_key()
    chain.create_pool(owner, 10 * TRX, 0)

    txid = chain.transfer_trx(owner, fresh, 2 * TRX)
    assert not chain.account_exists(fresh)
    chain.produce_blocks(1)

    assert chain.account_exists(fresh)
    assert chain.trx_balance(owner) == 10 * TRX - 2 * TRX - 1_100_000
    assert chain.tx_record(txid).info["receipt"] == {"net_fee": 100_000}


def test_pending_system_delegations_reserve_the_pools_stake(chain):
    _, pool = generate_key()
    _, a = generate_key()
    _, b = generate_key()
    chain.create_pool(pool, 0, 100_000 * 100_000)
    chain.fund(a, TRX)
    chain.fund(b, TRX)

    chain.delegate_energy(pool, a, 60_000)
    with pytest.raises(ChainError, match="delegateBalance"):
        chain.delegate_energy(pool, b, 60_000)
    chain.produce_blocks(1)

    assert chain.energy_available(a) == 60_000
    assert chain.energy_available(pool) == 40_000


def test_undelegating_everything_returns_the_stake(chain):
    _, pool = generate_key()
    _, a = generate_key()
    chain.create_pool(pool, 0, 100_000 * 100_000)
    chain.fund(a, TRX)
    chain.delegate_energy(pool, a, 70_000)
    chain.produce_blocks(1)

    chain.undelegate_energy(pool, a)
    chain.produce_blocks(1)

    assert chain.energy_available(a) == 0
    assert chain.energy_available(pool) == 100_000


def test_delegating_to_an_unactivated_receiver_is_refused(chain):
    _, pool = generate_key()
    chain.create_pool(pool, 0, 100_000 * 100_000)

    with pytest.raises(ChainError, match="not exists"):
        chain.delegate_energy(pool, generate_key()[1], 65_000)


def test_minting_does_not_activate_and_a_snapshot_restores_everything(chain):
    _, holder = generate_key()
    chain.mint(holder, 5_000_000)
    chain.produce_blocks(2)
    snapshot = json.loads(json.dumps(chain.snapshot()))

    restored = Chain(solid_depth=2)
    restored.restore(snapshot)

    assert not restored.account_exists(holder)
    assert restored.token_balance(holder) == 5_000_000
    assert restored.head_block().block_id == chain.head_block().block_id
    log = restored.block(1).txs[0].info["log"][0]
    assert log["topics"][1] == "0" * 64
