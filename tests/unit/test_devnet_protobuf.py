"""devnet.protobuf produces java-tron's bytes: the spec's worked examples and tronpy's own protobuf."""

from __future__ import annotations

import copy
import hashlib

import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from hypothesis import given, settings
from hypothesis import strategies as st
from tronpy import Tron
from tronpy.keys import PrivateKey
from tronpy.proto import tron_pb2
from tronpy.proto.transaction import calculate_txid_from_raw_data

from devnet import crypto, protobuf

pytestmark = pytest.mark.unit

OWNER_HEX = "4162f94e9ac9349bccc61bfe66ddade6292702ecb6"
OWNER = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"
TO_HEX = "41ae72a48c1a36bd18af168541c53037965d26e4a8"
TO = "TRsbuxREXKJKonexpejWhacE4sYHt1BSHV"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
SOLID_ID = "0000000003fe261b9e6e8091f5bd92dc67816890ec4739f6fe5109ad7779120c"

TRX_TRANSFER_HEX = (
    "0a02261b22089e6e8091f5bd92dc40c0c685c1dd335a67080112630a2d747970652e676f6f676c65617069732e636f6d2f"
    "70726f746f636f6c2e5472616e73666572436f6e747261637412320a154162f94e9ac9349bccc61bfe66ddade6292702ec"
    "b6121541ae72a48c1a36bd18af168541c53037965d26e4a81880897a70e0f181c1dd33"
)
TRX_TRANSFER_TXID = "e3fe32850341e134b2cfab3a322a9a663bc487877169ea40a6aeeff8be951c40"
USDT_TRANSFER_TXID = "55c03a257831c217a57708c25409890f0c7a0c08b40673b3a0f5a0f56563cb5c"
SIG = "ff302f6fcf52ae1c4f89bb9a0fcced0005819355a2a18cf3a62a45ac9cadc1af43eacee6cd54615d64b651452385f07988b9543c378558b6c0c77f864c5de8ff00"  # noqa: E501


def _raw(type_: str, value: dict, **extra: object) -> dict:
    raw = {
        "contract": [
            {
                "parameter": {"value": value, "type_url": f"type.googleapis.com/protocol.{type_}"},
                "type": type_,
            }
        ],
        "timestamp": 1777447500000,
        "expiration": 1777447560000,
        "ref_block_bytes": "261b",
        "ref_block_hash": "9e6e8091f5bd92dc",
    }
    raw.update(extra)
    return raw


def trx_transfer() -> dict:
    return _raw("TransferContract", {"owner_address": OWNER_HEX, "to_address": TO_HEX, "amount": 2_000_000})


def usdt_transfer() -> dict:
    data = "a9059cbb" + crypto.abi_address(TO) + (25_000_000).to_bytes(32, "big").hex()
    value = {
        "owner_address": OWNER_HEX,
        "contract_address": USDT_HEX,
        "data": data,
        "call_token_value": 0,
        "call_value": 0,
        "token_id": 0,
    }
    return _raw("TriggerSmartContract", value, fee_limit=30_000_000)


# -- the spec's worked examples ------------------------------------------------------------------


def test_the_trx_transfer_encodes_to_the_spec_raw_data_hex_and_txid():
    assert protobuf.encode_raw(trx_transfer()).hex() == TRX_TRANSFER_HEX
    assert protobuf.txid(trx_transfer()) == TRX_TRANSFER_TXID


def test_the_usdt_transfer_is_211_bytes_ending_in_the_fee_limit_with_the_spec_txid():
    raw = protobuf.encode_raw(usdt_transfer())
    assert len(raw) == 211
    assert raw.endswith(bytes.fromhex("900180 87a70e".replace(" ", "")))
    assert protobuf.txid(usdt_transfer()) == USDT_TRANSFER_TXID


def test_bandwidth_of_one_signature_transfers_is_267_for_trx_and_345_for_usdt():
    assert protobuf.transaction_size(trx_transfer(), [SIG]) + 64 == 267
    assert protobuf.transaction_size(usdt_transfer(), [SIG]) + 64 == 345


def test_a_fee_limit_above_268_trx_costs_one_more_byte():
    raw = usdt_transfer() | {"fee_limit": 300_000_000}
    assert protobuf.transaction_size(raw, [SIG]) + 64 == 346


def test_a_memo_adds_its_length_plus_two_bytes():
    raw = trx_transfer() | {"data": b"hi".hex()}
    assert protobuf.transaction_size(raw, [SIG]) + 64 == 271


def test_each_extra_signature_adds_67_bytes():
    assert (
        protobuf.transaction_size(trx_transfer(), [SIG, SIG])
        == protobuf.transaction_size(trx_transfer(), [SIG]) + 67
    )
    assert protobuf.transaction_size(trx_transfer(), []) == len(protobuf.encode_raw(trx_transfer())) + 3


def test_the_visible_base58_form_hashes_like_the_hex_form():
    raw = trx_transfer()
    raw["contract"][0]["parameter"]["value"].update(owner_address=OWNER, to_address=TO)
    assert protobuf.txid(raw, visible=True) == TRX_TRANSFER_TXID


def test_zero_valued_fields_write_no_bytes():
    with_zeros = usdt_transfer()
    without = copy.deepcopy(with_zeros)
    for key in ("call_value", "call_token_value", "token_id"):
        del without["contract"][0]["parameter"]["value"][key]
    assert protobuf.encode_raw(with_zeros) == protobuf.encode_raw(without)
    assert protobuf.encode_raw(trx_transfer() | {"fee_limit": 0}) == protobuf.encode_raw(trx_transfer())


# -- cross-checks against tronpy ----------------------------------------------------------------


def test_tronpy_offline_builds_hash_the_same_as_devnet():
    client = Tron(network="nile")  # offline builds make no HTTP calls
    txn = client.trx.transfer(OWNER, TO, 2_000_000).build(offline=True, ref_block_id=SOLID_ID)
    assert protobuf.txid(txn._raw_data) == txn.txid


def test_a_tronpy_signature_over_our_txid_recovers_the_owner():
    digest = bytes.fromhex(protobuf.txid(trx_transfer()))
    sig = PrivateKey(b"\x88" * 32).sign_msg_hash(digest)
    assert crypto.recover_address(digest, bytes.fromhex(sig.hex())) == OWNER


amounts = st.integers(min_value=0, max_value=2**63 - 1)
times = st.integers(min_value=0, max_value=2**45)
addr21 = st.binary(min_size=20, max_size=20).map(lambda b: "41" + b.hex())
ref = st.tuples(st.binary(min_size=2, max_size=2), st.binary(min_size=8, max_size=8))


@settings(max_examples=150)
@given(addr21, addr21, amounts, times, times, ref)
def test_trx_transfers_hash_like_tronpys_protobuf(owner, to, amount, ts, exp, refs):
    raw = _raw("TransferContract", {"owner_address": owner, "to_address": to, "amount": amount})
    raw.update(timestamp=ts, expiration=exp, ref_block_bytes=refs[0].hex(), ref_block_hash=refs[1].hex())
    assert protobuf.txid(raw) == calculate_txid_from_raw_data(raw)


@settings(max_examples=150)
@given(addr21, addr21, st.binary(max_size=200), amounts, amounts, amounts, amounts)
def test_contract_calls_hash_like_tronpys_protobuf(
    owner, contract, data, call_value, token_value, token, fee
):
    value = {
        "owner_address": owner,
        "contract_address": contract,
        "data": data.hex(),
        "call_value": call_value,
        "call_token_value": token_value,
        "token_id": token,
    }
    raw = _raw("TriggerSmartContract", value, fee_limit=fee)
    assert protobuf.txid(raw) == calculate_txid_from_raw_data(raw)


def _pb_raw(contract_type: int, inner: bytes, type_url: str, **fields: object) -> bytes:
    contract = tron_pb2.Transaction.Contract(
        type=contract_type,
        parameter=any_pb2.Any(type_url=type_url, value=inner),
        Permission_id=fields.pop("Permission_id", 0),
    )
    raw = tron_pb2.Transaction.raw(
        ref_block_bytes=bytes.fromhex("261b"),
        ref_block_hash=bytes.fromhex("9e6e8091f5bd92dc"),
        expiration=1777447560000,
        timestamp=1777447500000,
        contract=[contract],
        **fields,
    )
    return raw.SerializeToString()


@settings(max_examples=100)
@given(addr21, addr21, amounts, st.text(min_size=1, max_size=12), st.integers(0, 2**31 - 1), st.binary())
def test_asset_transfers_memos_and_permission_ids_match_tronpys_protobuf(owner, to, amount, name, perm, memo):
    inner = tron_pb2.TransferAssetContract(
        asset_name=name.encode(),
        owner_address=bytes.fromhex(owner),
        to_address=bytes.fromhex(to),
        amount=amount,
    ).SerializeToString()
    url = "type.googleapis.com/protocol.TransferAssetContract"
    expected = _pb_raw(2, inner, url, Permission_id=perm, data=memo)
    value = {"owner_address": owner, "to_address": to, "amount": amount}
    raw = _raw("TransferAssetContract", value | {"asset_name": name.encode().hex()}, data=memo.hex())
    raw["contract"][0]["Permission_id"] = perm
    assert protobuf.encode_raw(raw) == expected
    visible = _raw("TransferAssetContract", value | {"asset_name": name}, data=memo.hex())
    visible["contract"][0]["Permission_id"] = perm
    assert protobuf.encode_raw(visible, visible=True) == expected


def test_account_create_matches_tronpys_protobuf_and_writes_no_type_byte():
    inner = tron_pb2.AccountCreateContract(
        owner_address=bytes.fromhex(OWNER_HEX), account_address=bytes.fromhex(TO_HEX)
    ).SerializeToString()
    expected = _pb_raw(0, inner, "type.googleapis.com/protocol.AccountCreateContract")
    raw = _raw("AccountCreateContract", {"owner_address": OWNER_HEX, "account_address": TO_HEX})
    assert protobuf.encode_raw(raw) == expected


# Stake 2.0 messages are not in tronpy's tron_pb2: declare them from java-tron's balance_contract.proto.
def _stake_messages() -> dict[str, type]:
    f = descriptor_pb2.FileDescriptorProto(
        name="devnet_test_balance.proto", package="protocol", syntax="proto3"
    )
    enum = f.enum_type.add(name="ResourceCode")
    for name, number in (("BANDWIDTH", 0), ("ENERGY", 1), ("TRON_POWER", 2)):
        enum.value.add(name=name, number=number)
    t = descriptor_pb2.FieldDescriptorProto
    layouts = {
        "FreezeBalanceV2Contract": [
            ("owner_address", 1, "b"),
            ("frozen_balance", 2, "i"),
            ("resource", 3, "e"),
        ],
        "UnfreezeBalanceV2Contract": [
            ("owner_address", 1, "b"),
            ("unfreeze_balance", 2, "i"),
            ("resource", 3, "e"),
        ],
        "DelegateResourceContract": [
            ("owner_address", 1, "b"),
            ("resource", 2, "e"),
            ("balance", 3, "i"),
            ("receiver_address", 4, "b"),
            ("lock", 5, "?"),
            ("lock_period", 6, "i"),
        ],
        "UnDelegateResourceContract": [
            ("owner_address", 1, "b"),
            ("resource", 2, "e"),
            ("balance", 3, "i"),
            ("receiver_address", 4, "b"),
        ],
    }
    kinds = {"b": t.TYPE_BYTES, "i": t.TYPE_INT64, "e": t.TYPE_ENUM, "?": t.TYPE_BOOL}
    for msg_name, fields in layouts.items():
        msg = f.message_type.add(name=msg_name)
        for name, number, kind in fields:
            field = msg.field.add(name=name, number=number, type=kinds[kind], label=t.LABEL_OPTIONAL)
            if kind == "e":
                field.type_name = ".protocol.ResourceCode"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"protocol.{name}"))
        for name in layouts
    }


STAKE = _stake_messages()
resources = st.sampled_from(["BANDWIDTH", "ENERGY", "TRON_POWER"])
RESOURCE_CODE = {"BANDWIDTH": 0, "ENERGY": 1, "TRON_POWER": 2}


@settings(max_examples=100)
@given(
    st.sampled_from(sorted(STAKE)),
    addr21,
    addr21,
    amounts,
    resources,
    st.booleans(),
    st.integers(0, 2**40),
    st.booleans(),
)
def test_stake_contracts_match_protobuf_of_the_java_tron_layout(
    type_, owner, receiver, amount, res, lock, period, as_int
):
    cls = STAKE[type_]
    names = {f.name for f in cls.DESCRIPTOR.fields}
    value: dict[str, object] = {"owner_address": owner, "resource": RESOURCE_CODE[res] if as_int else res}
    pb_fields: dict[str, object] = {"owner_address": bytes.fromhex(owner), "resource": RESOURCE_CODE[res]}
    for key in ("frozen_balance", "unfreeze_balance", "balance"):
        if key in names:
            value[key] = pb_fields[key] = amount
    if "receiver_address" in names:
        value["receiver_address"] = receiver
        pb_fields["receiver_address"] = bytes.fromhex(receiver)
    if "lock" in names:
        value.update(lock=lock, lock_period=period)
        pb_fields.update(lock=lock, lock_period=period)
    inner = cls(**pb_fields).SerializeToString()
    number = protobuf.CONTRACT_TYPES[type_]
    expected = _pb_raw(number, inner, f"type.googleapis.com/protocol.{type_}")
    assert protobuf.encode_raw(_raw(type_, value)) == expected


def test_the_txid_is_sha256_of_the_raw_bytes():
    raw = usdt_transfer()
    assert protobuf.txid(raw) == hashlib.sha256(protobuf.encode_raw(raw)).hexdigest()


def test_negative_int64_values_use_ten_byte_varints_like_protobuf():
    raw = trx_transfer()
    raw["contract"][0]["parameter"]["value"]["amount"] = -1
    assert protobuf.txid(raw) == calculate_txid_from_raw_data(raw)


# -- malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["contract"][0].update(type="VoteWitnessContract"),
        lambda r: r["contract"][0].update(type="NoSuchContract"),
        lambda r: r.update(contract=[]),
        lambda r: r.pop("contract"),
        lambda r: r.update(ref_block_hash="zz"),
        lambda r: r["contract"][0]["parameter"]["value"].update(to_address="41abc"),
        lambda r: r["contract"][0]["parameter"]["value"].update(amount="100"),
        lambda r: r["contract"][0]["parameter"]["value"].update(amount=1.5),
        lambda r: r["contract"][0].update(parameter=None),
    ],
)
def test_malformed_raw_data_raises_value_error(mutate):
    raw = trx_transfer()
    mutate(raw)
    with pytest.raises(ValueError):
        protobuf.encode_raw(raw)


def test_an_unknown_resource_name_raises_value_error():
    raw = _raw("DelegateResourceContract", {"owner_address": OWNER_HEX, "resource": "WATER", "balance": 1})
    with pytest.raises(ValueError):
        protobuf.txid(raw)
