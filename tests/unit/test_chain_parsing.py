"""Pure parsing in the chain adapter: receipts, Transfer logs, addresses and the local txid."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tronpy import proto

from sweeper.chain.addresses import abi_word, from_topic, to_base58, to_hex
from sweeper.chain.logs import TRANSFER_TOPIC, contract_lookup, transfers_in
from sweeper.chain.receipts import parse_receipt
from sweeper.chain.txid import encode_raw, txid
from sweeper.detect import WatchSet
from sweeper.errors import InvalidAddress

pytestmark = pytest.mark.unit

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
SENDER = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"
SENDER_HEX = "4162f94e9ac9349bccc61bfe66ddade6292702ecb6"
RECIPIENT = "TRsbuxREXKJKonexpejWhacE4sYHt1BSHV"
RECIPIENT_HEX = "41ae72a48c1a36bd18af168541c53037965d26e4a8"
TXID = "55c03a257831c217a57708c25409890f0c7a0c08b40673b3a0f5a0f56563cb5c"

USDT_SUCCESS = {
    "id": TXID,
    "fee": 6773500,
    "blockNumber": 66987549,
    "blockTimeStamp": 1777447506000,
    "contractResult": ["0" * 64],
    "contract_address": USDT,
    "receipt": {
        "energy_fee": 6428500,
        "energy_usage_total": 64285,
        "net_fee": 345000,
        "result": "SUCCESS",
        "energy_penalty_total": 49635,
    },
    "log": [
        {
            "address": USDT,
            "topics": [TRANSFER_TOPIC, "0" * 24 + SENDER_HEX[2:], "0" * 24 + RECIPIENT_HEX[2:]],
            "data": format(25_000_000, "064x"),
        }
    ],
}
USDT_OUT_OF_ENERGY = {
    "id": "e6" * 32,
    "fee": 16500120,
    "blockNumber": 66860010,
    "contractResult": [""],
    "contract_address": USDT,
    "receipt": {
        "energy_fee": 16500120,
        "energy_usage_total": 78572,
        "net_usage": 345,
        "result": "OUT_OF_ENERGY",
    },
    "result": "FAILED",
    "resMessage": "Not enough energy for 'SSTORE' operation executing",
}
TRX_TRANSFER = {
    "id": "23" * 32,
    "blockNumber": 66862205,
    "contractResult": [""],
    "receipt": {"net_usage": 265},
}


def test_a_successful_usdt_transfer_is_a_success_although_transfer_returned_false() -> None:
    receipt = parse_receipt(USDT_SUCCESS)
    assert receipt is not None
    assert receipt.success is True
    assert receipt.result == "SUCCESS"
    assert (receipt.energy_usage_total, receipt.energy_fee_sun, receipt.net_fee_sun) == (
        64285,
        6428500,
        345000,
    )
    assert receipt.fee_sun == 6773500
    assert receipt.block_number == 66987549
    assert len(receipt.logs) == 1


def test_an_out_of_energy_transfer_is_a_failure_with_its_message() -> None:
    receipt = parse_receipt(USDT_OUT_OF_ENERGY)
    assert receipt is not None
    assert receipt.success is False
    assert receipt.result == "OUT_OF_ENERGY"
    assert receipt.message.startswith("Not enough energy")


def test_a_contract_call_without_a_vm_result_is_not_taken_for_a_success() -> None:
    info = {**USDT_SUCCESS, "receipt": {"energy_usage_total": 64285}}
    receipt = parse_receipt(info)
    assert receipt is not None and receipt.success is False


def test_a_trx_transfer_without_a_vm_result_is_a_success() -> None:
    receipt = parse_receipt(TRX_TRANSFER)
    assert receipt is not None
    assert receipt.success is True
    assert receipt.net_usage == 265
    assert receipt.fee_sun == 0


def test_a_hex_encoded_failure_message_is_decoded() -> None:
    info = {
        **USDT_OUT_OF_ENERGY,
        "receipt": {"result": "REVERT"},
        "resMessage": b"REVERT opcode executed".hex(),
    }
    receipt = parse_receipt(info)
    assert receipt is not None and receipt.message == "REVERT opcode executed"


def test_an_empty_answer_means_not_mined_yet() -> None:
    assert parse_receipt({}) is None


def test_a_transfer_log_becomes_a_token_transfer_with_base58_addresses() -> None:
    [transfer] = transfers_in([USDT_SUCCESS], contract_lookup([USDT]))
    assert transfer.contract == USDT
    assert transfer.txid == TXID
    assert transfer.block_number == 66987549
    assert (transfer.from_address, transfer.to_address) == (SENDER, RECIPIENT)
    assert transfer.amount == 25_000_000


def test_with_watched_keys_only_transfers_to_them_are_decoded() -> None:
    other = {**USDT_SUCCESS, "log": [{**USDT_SUCCESS["log"][0]}]}  # type: ignore[dict-item]
    other["log"][0]["topics"] = [*USDT_SUCCESS["log"][0]["topics"][:2], "0" * 24 + SENDER_HEX[2:]]  # type: ignore[index]
    not_hex = {**USDT_SUCCESS, "log": [{**USDT_SUCCESS["log"][0]}]}  # type: ignore[dict-item]
    not_hex["log"][0]["topics"] = [*USDT_SUCCESS["log"][0]["topics"][:2], "zz" * 32]  # type: ignore[index]
    lookup = contract_lookup([USDT])
    infos = [USDT_SUCCESS, other, not_hex]
    watched = WatchSet([RECIPIENT])
    assert transfers_in(infos, lookup, watched.keys) == [transfers_in([USDT_SUCCESS], lookup)[0]]
    assert transfers_in(infos, lookup, WatchSet().keys) == []


@pytest.mark.parametrize("form", [USDT, USDT_HEX, USDT_HEX[2:], "0x" + USDT_HEX[2:]])
def test_a_log_address_is_recognised_in_every_form_a_node_prints(form: str) -> None:
    info = {**USDT_SUCCESS, "log": [{**USDT_SUCCESS["log"][0], "address": form}]}  # type: ignore[dict-item]
    assert len(transfers_in([info], contract_lookup([USDT]))) == 1


def test_logs_of_other_contracts_failed_transactions_and_other_events_are_ignored() -> None:
    other_contract = {**USDT_SUCCESS, "log": [{**USDT_SUCCESS["log"][0], "address": SENDER}]}  # type: ignore[dict-item]
    failed = {**USDT_SUCCESS, "result": "FAILED"}
    approval = {
        **USDT_SUCCESS,
        "log": [{**USDT_SUCCESS["log"][0], "topics": ["8c" * 32, "0" * 64, "0" * 64]}],
    }  # type: ignore[dict-item]
    assert transfers_in([other_contract, failed, approval, TRX_TRANSFER], contract_lookup([USDT])) == []


def test_address_forms_convert_both_ways() -> None:
    assert to_hex(SENDER) == SENDER_HEX
    assert to_base58(SENDER_HEX) == SENDER
    assert to_base58("0x" + SENDER_HEX[2:]) == SENDER
    assert from_topic("0" * 24 + RECIPIENT_HEX[2:]) == RECIPIENT
    assert abi_word(RECIPIENT) == "0" * 24 + RECIPIENT_HEX[2:]


@pytest.mark.parametrize("bad", ["", "T", SENDER[:-1] + "4", "42" + SENDER_HEX[2:], "zz" * 21, "0x1234"])
def test_a_malformed_address_is_an_invalid_address(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        to_base58(bad)


def _transfer_raw(
    owner: str, to: str, amount: int, ts: int, ref_bytes: str, ref_hash: str
) -> dict[str, object]:
    return {
        "contract": [
            {
                "parameter": {
                    "value": {"owner_address": owner, "to_address": to, "amount": amount},
                    "type_url": "type.googleapis.com/protocol.TransferContract",
                },
                "type": "TransferContract",
            }
        ],
        "timestamp": ts,
        "expiration": ts + 60_000,
        "ref_block_bytes": ref_bytes,
        "ref_block_hash": ref_hash,
    }


def test_the_local_txid_matches_the_spec_vector_for_a_trx_transfer() -> None:
    raw = _transfer_raw(SENDER_HEX, RECIPIENT_HEX, 2_000_000, 1777447500000, "261b", "9e6e8091f5bd92dc")
    assert txid(raw) == "e3fe32850341e134b2cfab3a322a9a663bc487877169ea40a6aeeff8be951c40"


def test_the_local_txid_matches_the_spec_vector_for_a_usdt_transfer() -> None:
    raw = _transfer_raw(SENDER_HEX, RECIPIENT_HEX, 0, 1777447500000, "261b", "9e6e8091f5bd92dc")
    raw["fee_limit"] = 30_000_000
    raw["contract"] = [
        {
            "parameter": {
                "value": {
                    "owner_address": SENDER_HEX,
                    "contract_address": USDT_HEX,
                    "data": "a9059cbb" + "0" * 24 + RECIPIENT_HEX[2:] + format(25_000_000, "064x"),
                    "call_token_value": 0,
                    "call_value": 0,
                    "token_id": 0,
                },
                "type_url": "type.googleapis.com/protocol.TriggerSmartContract",
            },
            "type": "TriggerSmartContract",
        }
    ]
    assert len(encode_raw(raw)) == 211
    assert txid(raw) == TXID


hex_address = st.binary(min_size=20, max_size=20).map(lambda b: "41" + b.hex())


@settings(max_examples=200, deadline=None)
@given(
    owner=hex_address,
    to=hex_address,
    amount=st.integers(min_value=0, max_value=2**63 - 1),
    ts=st.integers(min_value=1, max_value=2**45),
    ref_bytes=st.binary(min_size=2, max_size=2).map(bytes.hex),
    ref_hash=st.binary(min_size=8, max_size=8).map(bytes.hex),
)
def test_the_local_txid_agrees_with_tronpys_protobuf_for_any_trx_transfer(
    owner: str, to: str, amount: int, ts: int, ref_bytes: str, ref_hash: str
) -> None:
    raw = _transfer_raw(owner, to, amount, ts, ref_bytes, ref_hash)
    assert txid(raw) == proto.calculate_txid_from_raw_data(raw)


def test_a_contract_type_the_adapter_never_builds_has_no_local_txid() -> None:
    raw = _transfer_raw(SENDER_HEX, RECIPIENT_HEX, 1, 1, "0000", "00" * 8)
    raw["contract"][0]["type"] = "VoteWitnessContract"  # type: ignore[index]
    with pytest.raises(ValueError, match="VoteWitnessContract"):
        txid(raw)
