"""What the devnet node refuses at broadcast, as tronpy sees it: signatures, expiry, duplicates, TaPoS."""

from __future__ import annotations

import time

import pytest
from tronpy.exceptions import BadSignature, TaposError, TransactionError, UnknownError, ValidationError
from tronpy.keys import PrivateKey
from tronpy.tron import Transaction

from tests.fixtures.devnet import TRX, admin, node_call, tron_client

pytestmark = pytest.mark.integration

WAIT = {"interval": 0.2}


@pytest.fixture
def sender(devnet_session, funded_account):
    priv, address = funded_account(sun=20 * TRX)
    return PrivateKey(bytes.fromhex(priv)), address


@pytest.fixture
def receiver(funded_account):
    return funded_account(sun=TRX)[1]


def test_a_signature_by_another_key_is_rejected_as_bad_signature(devnet_session, sender, receiver):
    _, address = sender
    txn = tron_client(devnet_session).trx.transfer(address, receiver, TRX).build()
    txn._permission = None  # skip tronpy's local key check to reach the node's

    with pytest.raises(BadSignature, match="not contained of permission"):
        txn.sign(PrivateKey.random()).broadcast()


def test_an_unsigned_transaction_is_rejected_as_bad_signature(devnet_session, sender, receiver):
    _, address = sender
    txn = tron_client(devnet_session).trx.transfer(address, receiver, TRX).build()

    with pytest.raises(BadSignature, match="miss sig"):
        txn.broadcast()


def test_an_expired_transaction_is_rejected(devnet_session, sender, receiver):
    key, address = sender
    txn = tron_client(devnet_session).trx.transfer(address, receiver, TRX).expiration(1_000).build().sign(key)
    deadline = txn._raw_data["expiration"]
    while tron_client(devnet_session).get_latest_block()["block_header"]["raw_data"]["timestamp"] <= deadline:
        time.sleep(0.1)

    with pytest.raises(TransactionError, match="expired"):
        txn.broadcast()


def test_broadcasting_the_same_transaction_twice_is_a_duplicate(devnet_session, sender, receiver):
    key, address = sender
    txn = tron_client(devnet_session).trx.transfer(address, receiver, TRX).build().sign(key)
    txn.broadcast()

    with pytest.raises(UnknownError) as dup:
        txn.broadcast()
    assert "DUP_TRANSACTION_ERROR" in dup.value.args


def test_a_mined_transaction_broadcast_again_is_a_duplicate(devnet_session, sender, receiver):
    key, address = sender
    txn = tron_client(devnet_session).trx.transfer(address, receiver, TRX).build().sign(key)
    txn.broadcast().wait(**WAIT)

    with pytest.raises(UnknownError) as dup:
        txn.broadcast()
    assert "DUP_TRANSACTION_ERROR" in dup.value.args


def test_a_reference_block_that_is_not_on_chain_fails_the_tapos_check(devnet_session, sender, receiver):
    key, address = sender
    client = tron_client(devnet_session)
    built = client.trx.transfer(address, receiver, TRX).build()
    raw = dict(built._raw_data, ref_block_hash="00" * 8)
    txn = Transaction(raw, client=client)  # asks getsignweight for the new txID

    with pytest.raises(TaposError):
        txn.sign(key).broadcast()


def test_getsignweight_returns_the_txid_and_a_hex_permission(devnet_session, sender, receiver):
    _, address = sender
    txn = tron_client(devnet_session).trx.transfer(address, receiver, TRX).build()
    body = txn.to_json()

    reply = node_call(devnet_session, "wallet/getsignweight", body)

    assert reply["transaction"]["transaction"]["txID"] == txn.txid
    assert reply["permission"]["keys"][0]["address"].startswith("41")
    assert reply["result"] == {"code": "NOT_ENOUGH_PERMISSION"}
    stranger = PrivateKey.random().public_key.to_hex_address()
    body["raw_data"]["contract"][0]["parameter"]["value"]["owner_address"] = stranger
    missing = node_call(devnet_session, "wallet/getsignweight", body)
    assert "permission" not in missing and missing["result"]["code"] == "PERMISSION_ERROR"


def test_a_memo_costs_one_trx(devnet_session, sender, receiver):
    key, address = sender

    info = tron_client(devnet_session).trx.transfer(address, receiver, TRX).memo("hi").build().sign(key)
    info = info.broadcast().wait(**WAIT)

    assert info["fee"] == TRX


def test_a_sender_without_enough_trx_is_refused(devnet_session, sender, receiver):
    key, address = sender
    client = tron_client(devnet_session)

    with pytest.raises(ValidationError, match="balance is not sufficient"):
        client.trx.transfer(address, receiver, 50 * TRX).build().sign(key).broadcast()
    admin(devnet_session, "devnet/produce", {"blocks": 1})
    assert client.get_account_balance(address) == 20
