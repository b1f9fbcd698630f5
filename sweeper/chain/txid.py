"""The transaction id computed locally: sha256 of the protobuf ``Transaction.raw``.

tronpy takes the txid from the node (``getsignweight``) and signs whatever it is told. We recompute it
from the ``raw_data`` we built, so a faulty or hostile node cannot get us to sign a different transfer.
Only the contract types the adapter builds are supported; proto3 defaults are not emitted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

# (field number, wire kind) per JSON key, in ascending field order.
_Layout = tuple[tuple[str, int, str], ...]

_RESOURCE = {"BANDWIDTH": 0, "ENERGY": 1, "TRON_POWER": 2}
_CONTRACT_TYPES = {
    "TransferContract": 1,
    "TriggerSmartContract": 31,
    "DelegateResourceContract": 57,
    "UnDelegateResourceContract": 58,
}
_LAYOUTS: dict[str, _Layout] = {
    "TransferContract": (("owner_address", 1, "bytes"), ("to_address", 2, "bytes"), ("amount", 3, "int")),
    "TriggerSmartContract": (
        ("owner_address", 1, "bytes"),
        ("contract_address", 2, "bytes"),
        ("call_value", 3, "int"),
        ("data", 4, "bytes"),
        ("call_token_value", 5, "int"),
        ("token_id", 6, "int"),
    ),
    "DelegateResourceContract": (
        ("owner_address", 1, "bytes"),
        ("resource", 2, "resource"),
        ("balance", 3, "int"),
        ("receiver_address", 4, "bytes"),
        ("lock", 5, "int"),
        ("lock_period", 6, "int"),
    ),
    "UnDelegateResourceContract": (
        ("owner_address", 1, "bytes"),
        ("resource", 2, "resource"),
        ("balance", 3, "int"),
        ("receiver_address", 4, "bytes"),
    ),
}
_RAW: _Layout = (
    ("ref_block_bytes", 1, "bytes"),
    ("ref_block_hash", 4, "bytes"),
    ("expiration", 8, "int"),
    ("data", 10, "bytes"),
    ("contract", 11, "contract"),
    ("timestamp", 14, "int"),
    ("fee_limit", 18, "int"),
)


def txid(raw_data: Mapping[str, Any]) -> str:
    """Return the hex txid of tronpy-style ``raw_data`` (hex addresses, exactly one contract)."""
    return hashlib.sha256(encode_raw(raw_data)).hexdigest()


def encode_raw(raw_data: Mapping[str, Any]) -> bytes:
    """Serialize ``raw_data`` as java-tron's ``Transaction.raw``; unknown contract types raise ValueError."""
    contracts = raw_data.get("contract") or []
    if len(contracts) != 1:
        raise ValueError("a transaction holds exactly one contract")
    fields = dict(raw_data)
    fields["contract"] = contracts[0]
    return _message(fields, _RAW)


def _contract(contract: Mapping[str, Any]) -> bytes:
    kind = contract.get("type", "")
    if kind not in _LAYOUTS:
        raise ValueError(f"cannot compute the txid of a {kind or 'typeless'} contract")
    parameter = contract["parameter"]
    inner = _message(parameter["value"], _LAYOUTS[kind])
    any_msg = _field(1, str(parameter["type_url"]).encode()) + _field(2, inner)
    out = _varint_field(1, _CONTRACT_TYPES[kind]) + _field(2, any_msg)
    return out + _varint_field(5, int(contract.get("Permission_id", 0)))


def _message(values: Mapping[str, Any], layout: _Layout) -> bytes:
    out = bytearray()
    for key, number, kind in layout:
        value = values.get(key)
        if value is None:
            continue
        out += _ENCODERS[kind](number, value)
    return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    if not value:
        return b""
    return _varint(number << 3) + _varint(value)


def _field(number: int, payload: bytes) -> bytes:
    if not payload:
        return b""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_ENCODERS: dict[str, Callable[[int, Any], bytes]] = {
    "int": lambda n, v: _varint_field(n, int(v)),
    "bytes": lambda n, v: _field(n, bytes.fromhex(v)),
    "resource": lambda n, v: _varint_field(n, _RESOURCE[v] if isinstance(v, str) else int(v)),
    "contract": lambda n, v: _field(n, _contract(v)),
}
