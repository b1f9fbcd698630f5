"""java-tron's two JSON dialects: `visible=true` (base58 addresses, text messages) and hex.

The chain stores everything in the hex dialect (addresses `41…`, log addresses as 20-byte hex,
messages as plain text) and converts on the way out.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from devnet.crypto import to_base58, to_hex_address

ADDRESS_KEYS = frozenset(
    {
        "owner_address",
        "to_address",
        "contract_address",
        "receiver_address",
        "account_address",
        "origin_address",
        "from_address",
        "witness_address",
    }
)


@lru_cache(maxsize=100_000)
def b58(addr: str) -> str:
    """Base58 form of an address (cached: the same addresses are rendered over and over)."""
    return to_base58(addr)


@lru_cache(maxsize=100_000)
def hex41(addr: str) -> str:
    """Lowercase `41…` form of an address in any form; ValueError if it is not one."""
    return to_hex_address(addr)


def addr_out(hex_addr: str, visible: bool) -> str:
    return b58(hex_addr) if visible else hex_addr


def message(text: str, visible: bool) -> str:
    """Byte fields such as `message`/`resMessage`: text when visible, hex of UTF-8 otherwise."""
    return text if visible else text.encode().hex()


def _convert_value(value: dict[str, Any], conv: Any) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        if key in ADDRESS_KEYS and isinstance(item, str) and item:
            out[key] = conv(item)
        else:
            out[key] = item
    return out


def _convert_raw(raw: dict[str, Any], conv: Any) -> dict[str, Any]:
    out = dict(raw)
    contracts = []
    for c in raw.get("contract", []):
        c2 = dict(c)
        param = dict(c2.get("parameter", {}))
        if isinstance(param.get("value"), dict):
            param["value"] = _convert_value(param["value"], conv)
        c2["parameter"] = param
        contracts.append(c2)
    out["contract"] = contracts
    return out


def raw_visible(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored (hex) raw_data with its addresses in base58."""
    return _convert_raw(raw, b58)


def raw_hex(raw: dict[str, Any]) -> dict[str, Any]:
    """Normalize a raw_data sent in any address form to the stored hex form (ValueError if bad)."""
    return _convert_raw(raw, hex41)


def raw_out(raw: dict[str, Any], visible: bool) -> dict[str, Any]:
    return raw_visible(raw) if visible else raw


def info_out(info: dict[str, Any], visible: bool) -> dict[str, Any]:
    """A stored TransactionInfo rendered in either dialect."""
    out = dict(info)
    if "contract_address" in out:
        out["contract_address"] = addr_out(out["contract_address"], visible)
    if "resMessage" in out:
        out["resMessage"] = message(out["resMessage"], visible)
    if visible and "log" in out:
        out["log"] = [{**log, "address": b58("41" + log["address"])} for log in out["log"]]
    return out


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
