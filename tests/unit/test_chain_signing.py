"""Building and signing with a Signer, against a scripted node (httpx.MockTransport)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from tronpy import proto
from tronpy.keys import PrivateKey

from sweeper.chain import Signer, TronChain
from sweeper.chain.intent import Intent, for_sweep
from sweeper.errors import (
    AccountNotActivated,
    BadTransactionSignature,
    ChainRejected,
    InvalidAddress,
)
from sweeper.models import SignedTx

pytestmark = pytest.mark.unit

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
RECIPIENT = "TRsbuxREXKJKonexpejWhacE4sYHt1BSHV"
SOLID = "Num:66987547,ID:0000000003fe261b9e6e8091f5bd92dc67816890ec4739f6fe5109ad7779120c"
HEAD_NUMBER = 9755
HEAD_ID = f"{HEAD_NUMBER:016x}" + "4f1c2b7a9d3e6058" + "11" * 16  # the number in its first 8 bytes


class KeySigner:
    """A Signer over a local key, as the keys module provides in production."""

    def __init__(self, key: PrivateKey) -> None:
        self._key = key
        self.intents: list[Intent] = []

    @property
    def address(self) -> str:
        return str(self._key.public_key.to_base58check_address())

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        self.intents.append(intent)
        digest = bytes.fromhex(proto.calculate_txid_from_raw_data(dict(raw_data)))  # tronpy's own encoder
        return bytes(self._key.sign_msg_hash(digest).to_bytes())

    def probe(self) -> None:
        return None


HEAD_TIME_MS = int(time.time() * 1000) + 3_600_000  # a node whose head runs an hour ahead of this machine


class ScriptedNode:
    """Answers getnodeinfo/getsignweight/getaccount/broadcast like java-tron, with knobs for faults."""

    def __init__(
        self,
        signer_hex: str,
        *,
        activated: bool = True,
        txid_override: str | None = None,
        head_id: str | None = HEAD_ID,
    ) -> None:
        self.signer_hex = signer_hex
        self.head_id = head_id
        self.activated = activated
        self.txid_override = txid_override
        self.broadcasts: list[dict[str, Any]] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.lstrip("/")
        self.paths.append(path)
        body = json.loads(request.content or b"{}")
        if path == "wallet/getnodeinfo":
            return httpx.Response(200, json={"block": SOLID, "solidityBlock": SOLID})
        if path == "wallet/getblock" and body == {"detail": False}:  # the head, without its transactions
            header = {"raw_data": {"number": HEAD_NUMBER, "timestamp": HEAD_TIME_MS}}
            block: dict[str, Any] = {"block_header": header}
            if self.head_id is not None:
                block["blockID"] = self.head_id
            return httpx.Response(200, json=block)
        if path == "wallet/getsignweight":
            txid = self.txid_override or proto.calculate_txid_from_raw_data(body["raw_data"])
            answer: dict[str, Any] = {
                "transaction": {"transaction": {"txID": txid, "raw_data": body["raw_data"]}}
            }
            if self.activated:
                keys = [{"address": self.signer_hex, "weight": 1}]
                answer["permission"] = {"permission_name": "owner", "threshold": 1, "keys": keys}
            return httpx.Response(200, json=answer)
        if path == "wallet/getaccount":
            return httpx.Response(200, json={"address": body["address"]} if self.activated else {})
        if path == "wallet/broadcasttransaction":
            self.broadcasts.append(body)
            return httpx.Response(200, json={"result": True, "txid": body["txID"]})
        return httpx.Response(404)


@pytest.fixture
def signer() -> KeySigner:
    return KeySigner(PrivateKey(bytes.fromhex("88" * 32)))


def _chain(node: ScriptedNode) -> TronChain:
    return TronChain("http://node.test", http=httpx.Client(transport=httpx.MockTransport(node)))


def test_a_local_signer_satisfies_the_signer_protocol(signer: KeySigner) -> None:
    assert isinstance(signer, Signer)


def test_a_token_transfer_is_built_signed_and_stored_with_txid_and_expiration(signer: KeySigner) -> None:
    node = ScriptedNode(PrivateKey(bytes.fromhex("88" * 32)).public_key.to_hex_address())
    tx = _chain(node).build_token_transfer(USDT, signer, RECIPIENT, 25_000_000, fee_limit_sun=30_000_000)

    stored = json.loads(tx.raw_json)
    raw = stored["raw_data"]
    assert tx.txid == stored["txID"] == proto.calculate_txid_from_raw_data(raw)
    assert tx.expiration_ms == raw["expiration"] == HEAD_TIME_MS + 60_000  # chain time, not our clock
    assert raw["timestamp"] == HEAD_TIME_MS
    assert raw["fee_limit"] == 30_000_000
    # TaPoS on the head block read for the time (as TronWeb builds): bytes 6-7 and 8-15 of its id.
    assert raw["ref_block_bytes"] == HEAD_ID[12:16] == "261b" and raw["ref_block_hash"] == "4f1c2b7a9d3e6058"
    value = raw["contract"][0]["parameter"]["value"]
    assert value["data"].startswith("a9059cbb")
    assert value["data"].endswith(format(25_000_000, "064x"))
    [signature] = stored["signature"]
    assert len(bytes.fromhex(signature)) == 65
    assert node.paths == ["wallet/getblock", "wallet/getsignweight"]  # no getnodeinfo for a reference


@pytest.mark.parametrize(
    "head_id",
    [None, "", f"{HEAD_NUMBER + 1:016x}" + "ab" * 24, "zz" * 32, HEAD_ID[:40]],
    ids=["no id", "empty", "another block's number", "not hex", "short"],
)
def test_a_head_without_a_well_formed_id_is_referenced_the_tronpy_way(
    signer: KeySigner, head_id: str | None
) -> None:
    node = ScriptedNode(PrivateKey(bytes.fromhex("88" * 32)).public_key.to_hex_address(), head_id=head_id)
    tx = _chain(node).build_trx_transfer(signer, RECIPIENT, 2_000_000)

    raw = json.loads(tx.raw_json)["raw_data"]
    assert raw["ref_block_bytes"] == "261b" and raw["ref_block_hash"] == "9e6e8091f5bd92dc"  # the solid block
    assert node.paths == ["wallet/getblock", "wallet/getnodeinfo", "wallet/getsignweight"]
    assert raw["timestamp"] == HEAD_TIME_MS  # still stamped with the head's time


def test_the_signer_is_handed_the_raw_data_and_the_intent_naming_the_sweep(signer: KeySigner) -> None:
    node = ScriptedNode(PrivateKey(bytes.fromhex("88" * 32)).public_key.to_hex_address())
    chain = _chain(node)
    with for_sweep(42):
        chain.build_token_transfer(USDT, signer, RECIPIENT, 25_000_000, fee_limit_sun=30_000_000)
    chain.build_trx_transfer(signer, RECIPIENT, 7_000_000)

    assert signer.intents == [
        Intent("trc20_transfer", USDT, 25_000_000, RECIPIENT, 42),
        Intent("trx_transfer", "TRX", 7_000_000, RECIPIENT, None),
    ]


def test_a_stored_transaction_is_broadcast_exactly_as_it_was_signed(signer: KeySigner) -> None:
    node = ScriptedNode(PrivateKey(bytes.fromhex("88" * 32)).public_key.to_hex_address())
    chain = _chain(node)
    tx = chain.build_trx_transfer(signer, RECIPIENT, 2_000_000)
    stored_again = SignedTx(tx.txid, tx.raw_json, tx.expiration_ms)  # as read back from the ledger

    chain.broadcast(stored_again)
    chain.broadcast(stored_again)

    assert node.broadcasts == [json.loads(tx.raw_json)] * 2


def test_a_node_that_returns_a_foreign_txid_is_never_signed_for(signer: KeySigner) -> None:
    node = ScriptedNode(
        PrivateKey(bytes.fromhex("88" * 32)).public_key.to_hex_address(), txid_override="ab" * 32
    )
    with pytest.raises(ChainRejected) as info:
        _chain(node).build_trx_transfer(signer, RECIPIENT, 2_000_000)
    assert info.value.reason == "txid_mismatch"


def test_a_signer_outside_the_owner_permission_is_refused(signer: KeySigner) -> None:
    node = ScriptedNode(PrivateKey(bytes.fromhex("77" * 32)).public_key.to_hex_address())
    with pytest.raises(BadTransactionSignature):
        _chain(node).build_trx_transfer(signer, RECIPIENT, 2_000_000)


def test_a_signer_that_signs_with_another_key_is_caught_before_broadcast(signer: KeySigner) -> None:
    class WrongKey(KeySigner):
        def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
            digest = bytes.fromhex(proto.calculate_txid_from_raw_data(dict(raw_data)))
            return bytes(PrivateKey(bytes.fromhex("77" * 32)).sign_msg_hash(digest).to_bytes())

    node = ScriptedNode(PrivateKey(bytes.fromhex("88" * 32)).public_key.to_hex_address())
    chain = _chain(node)
    with pytest.raises(BadTransactionSignature):
        chain.build_trx_transfer(WrongKey(PrivateKey(bytes.fromhex("88" * 32))), RECIPIENT, 2_000_000)
    assert node.broadcasts == []


def test_an_unactivated_owner_is_reported_at_build_time(signer: KeySigner) -> None:
    node = ScriptedNode(PrivateKey(bytes.fromhex("88" * 32)).public_key.to_hex_address(), activated=False)
    with pytest.raises(AccountNotActivated):
        _chain(node).build_token_transfer(USDT, signer, RECIPIENT, 1, fee_limit_sun=30_000_000)


@pytest.mark.parametrize(("amount", "fee_limit"), [(0, 30_000_000), (-1, 30_000_000), (1, 0)])
def test_a_non_positive_amount_or_fee_limit_is_refused(
    signer: KeySigner, amount: int, fee_limit: int
) -> None:
    node = ScriptedNode("")
    with pytest.raises(ChainRejected):
        _chain(node).build_token_transfer(USDT, signer, RECIPIENT, amount, fee_limit_sun=fee_limit)
    assert node.paths == []


def test_an_invalid_recipient_is_refused_before_building(signer: KeySigner) -> None:
    node = ScriptedNode("")
    with pytest.raises(InvalidAddress):
        _chain(node).build_token_transfer(USDT, signer, "TNotAnAddress", 1, fee_limit_sun=30_000_000)
    assert node.paths == []
