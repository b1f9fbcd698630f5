"""java-tron's protobuf bytes for `Transaction.raw`, built from the JSON `raw_data` tronpy sends.

The txID every client and node agrees on is sha256 of these bytes, so they must match java-tron
exactly: standard wire format, ascending field numbers, proto3 defaults (0, false, empty, first
enum value) not written. Addresses are accepted in any form (hex `41…`, base58, `0x…`); `visible`
only changes the name fields java-tron prints as text (`TransferAssetContract.asset_name`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from devnet.crypto import to_hex_address

__all__ = ["CONTRACT_TYPES", "encode_raw", "transaction_size", "txid", "varint_size"]

CONTRACT_TYPES: dict[str, int] = {
    "AccountCreateContract": 0,
    "TransferContract": 1,
    "TransferAssetContract": 2,
    "TriggerSmartContract": 31,
    "FreezeBalanceV2Contract": 54,
    "UnfreezeBalanceV2Contract": 55,
    "DelegateResourceContract": 57,
    "UnDelegateResourceContract": 58,
}
_RESOURCE_CODES = {"BANDWIDTH": 0, "ENERGY": 1, "TRON_POWER": 2}
_ACCOUNT_TYPES = {"Normal": 0, "AssetIssue": 1, "Contract": 2}

_VARINT, _LEN = 0, 2


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 negatives: 10-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint_size(n: int) -> int:
    """Bytes of `n` as a protobuf varint."""
    return len(_varint(n))


def _int_field(num: int, value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"field {num}: expected an integer, got {value!r}")
    return _varint(num << 3 | _VARINT) + _varint(value) if value else b""


def _bool_field(num: int, value: bool) -> bytes:
    if not isinstance(value, bool):
        raise ValueError(f"field {num}: expected a boolean, got {value!r}")
    return _int_field(num, int(value))


def _bytes_field(num: int, value: bytes) -> bytes:
    return _varint(num << 3 | _LEN) + _varint(len(value)) + value if value else b""


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected a hex string, got {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what}: not hex: {value!r}") from None


def _address(value: Any, what: str) -> bytes:
    if value is None or value == "":
        return b""
    try:
        return bytes.fromhex(to_hex_address(value))
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _enum(value: Any, names: Mapping[str, int], what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what}: bad enum value {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    raise ValueError(f"{what}: unknown value {value!r}")


class _Fields:
    """Reads typed values out of one contract's JSON `value` object."""

    def __init__(self, obj: Any, type_name: str) -> None:
        if not isinstance(obj, Mapping):
            raise ValueError(f"{type_name}: parameter.value must be an object")
        self.obj, self.type_name = obj, type_name

    def addr(self, num: int, key: str) -> bytes:
        return _bytes_field(num, _address(self.obj.get(key), f"{self.type_name}.{key}"))

    def integer(self, num: int, key: str) -> bytes:
        return _int_field(num, self.obj.get(key, 0) or 0)

    def flag(self, num: int, key: str) -> bytes:
        return _bool_field(num, bool(self.obj.get(key, False)))

    def hexbytes(self, num: int, key: str) -> bytes:
        return _bytes_field(num, _hex(self.obj.get(key) or "", f"{self.type_name}.{key}"))

    def resource(self, num: int, key: str = "resource") -> bytes:
        code = _enum(self.obj.get(key, 0), _RESOURCE_CODES, f"{self.type_name}.{key}")
        return _int_field(num, code)


def _account_create(f: _Fields, visible: bool) -> bytes:
    account_type = _enum(f.obj.get("type", 0), _ACCOUNT_TYPES, "AccountCreateContract.type")
    return f.addr(1, "owner_address") + f.addr(2, "account_address") + _int_field(3, account_type)


def _transfer(f: _Fields, visible: bool) -> bytes:
    return f.addr(1, "owner_address") + f.addr(2, "to_address") + f.integer(3, "amount")


def _transfer_asset(f: _Fields, visible: bool) -> bytes:
    name = f.obj.get("asset_name") or ""
    if not isinstance(name, str):
        raise ValueError("TransferAssetContract.asset_name must be a string")
    asset = name.encode() if visible else _hex(name, "TransferAssetContract.asset_name")
    return (
        _bytes_field(1, asset) + f.addr(2, "owner_address") + f.addr(3, "to_address") + f.integer(4, "amount")
    )


def _trigger(f: _Fields, visible: bool) -> bytes:
    return (
        f.addr(1, "owner_address")
        + f.addr(2, "contract_address")
        + f.integer(3, "call_value")
        + f.hexbytes(4, "data")
        + f.integer(5, "call_token_value")
        + f.integer(6, "token_id")
    )


def _freeze_v2(f: _Fields, visible: bool) -> bytes:
    return f.addr(1, "owner_address") + f.integer(2, "frozen_balance") + f.resource(3)


def _unfreeze_v2(f: _Fields, visible: bool) -> bytes:
    return f.addr(1, "owner_address") + f.integer(2, "unfreeze_balance") + f.resource(3)


def _delegate(f: _Fields, visible: bool) -> bytes:
    return (
        f.addr(1, "owner_address")
        + f.resource(2)
        + f.integer(3, "balance")
        + f.addr(4, "receiver_address")
        + f.flag(5, "lock")
        + f.integer(6, "lock_period")
    )


def _undelegate(f: _Fields, visible: bool) -> bytes:
    return (
        f.addr(1, "owner_address") + f.resource(2) + f.integer(3, "balance") + f.addr(4, "receiver_address")
    )


_ENCODERS: dict[str, Callable[[_Fields, bool], bytes]] = {
    "AccountCreateContract": _account_create,
    "TransferContract": _transfer,
    "TransferAssetContract": _transfer_asset,
    "TriggerSmartContract": _trigger,
    "FreezeBalanceV2Contract": _freeze_v2,
    "UnfreezeBalanceV2Contract": _unfreeze_v2,
    "DelegateResourceContract": _delegate,
    "UnDelegateResourceContract": _undelegate,
}


def _contract(c: Any, visible: bool) -> bytes:
    """`Transaction.Contract`: type=1, parameter=2 (Any), provider=3, ContractName=4, Permission_id=5."""
    if not isinstance(c, Mapping):
        raise ValueError("contract must be an object")
    type_name = c.get("type")
    if type_name not in _ENCODERS:
        raise ValueError(f"unsupported contract type: {type_name!r}")
    param = c.get("parameter")
    if not isinstance(param, Mapping):
        raise ValueError("contract.parameter must be an object")
    type_url = param.get("type_url", f"type.googleapis.com/protocol.{type_name}")
    if not isinstance(type_url, str):
        raise ValueError("contract.parameter.type_url must be a string")
    value = _ENCODERS[type_name](_Fields(param.get("value"), type_name), visible)
    any_msg = _bytes_field(1, type_url.encode()) + _bytes_field(2, value)
    contract_name = c.get("ContractName") or ""
    return (
        _int_field(1, CONTRACT_TYPES[type_name])
        + _varint(2 << 3 | _LEN)
        + _varint(len(any_msg))
        + any_msg  # parameter is a set message: written even when empty
        + _bytes_field(3, _hex(c.get("provider") or "", "contract.provider"))
        + _bytes_field(4, contract_name.encode() if visible else _hex(contract_name, "ContractName"))
        + _int_field(5, c.get("Permission_id", 0) or 0)
    )


def encode_raw(raw_data: Mapping[str, Any], *, visible: bool = False) -> bytes:
    """Protobuf `Transaction.raw` of a tronpy/java-tron JSON `raw_data`; ValueError if malformed."""
    if not isinstance(raw_data, Mapping):
        raise ValueError("raw_data must be an object")
    if raw_data.get("auths"):
        raise ValueError("raw_data.auths is not supported")
    contracts = raw_data.get("contract")
    if not isinstance(contracts, list) or not contracts:
        raise ValueError("raw_data.contract must be a non-empty list")
    out = bytearray()
    out += _bytes_field(1, _hex(raw_data.get("ref_block_bytes") or "", "ref_block_bytes"))
    out += _int_field(3, raw_data.get("ref_block_num", 0) or 0)
    out += _bytes_field(4, _hex(raw_data.get("ref_block_hash") or "", "ref_block_hash"))
    out += _int_field(8, raw_data.get("expiration", 0) or 0)
    out += _bytes_field(10, _hex(raw_data.get("data") or "", "data"))
    for c in contracts:
        out += _bytes_field(11, _contract(c, visible))
    out += _bytes_field(12, _hex(raw_data.get("scripts") or "", "scripts"))
    out += _int_field(14, raw_data.get("timestamp", 0) or 0)
    out += _int_field(18, raw_data.get("fee_limit", 0) or 0)
    return bytes(out)


def txid(raw_data: Mapping[str, Any], visible: bool = False) -> str:
    """The transaction id: sha256 hex of the protobuf `Transaction.raw`."""
    return hashlib.sha256(encode_raw(raw_data, visible=visible)).hexdigest()


def transaction_size(raw_data: Mapping[str, Any], signatures: list[str], visible: bool = False) -> int:
    """Bytes of `Transaction{raw_data=1, signature=2[]}` (no `ret`); the chain adds 64 for bandwidth."""
    size = len(_bytes_field(1, encode_raw(raw_data, visible=visible)))
    for sig in signatures:  # repeated: even an empty signature is written
        body = _hex(sig, "signature")
        size += len(_varint(2 << 3 | _LEN)) + len(_varint(len(body))) + len(body)
    return size
