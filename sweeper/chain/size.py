"""How many bytes of bandwidth a transaction is charged, computed as java-tron computes it.

java-tron charges the serialised ``Transaction`` without its ``ret`` field plus ``MAX_RESULT_SIZE_IN_TX``
(64) bytes per contract (``BandwidthProcessor.consume``; docs/TRON.md §2.1, §5). A ``Transaction`` is
``raw_data`` (field 1) and one ``signature`` (field 2) per signer, so the size follows from the encoded
``raw_data`` alone. Before a transfer is built, the same encoding of a stand-in ``raw_data`` with the
transfer's own fields gives its size to the byte (only the lengths of the values matter, not their content).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sweeper.chain.addresses import abi_word, to_hex
from sweeper.chain.txid import encode_raw

MAX_RESULT_SIZE_IN_TX = 64
"""Bytes java-tron adds per contract for the result it will store (``Constant.MAX_RESULT_SIZE_IN_TX``)."""
SIGNATURE_BYTES = 65
TRANSFER_SELECTOR = "a9059cbb"
_STAND_IN_TIME_MS = 1_700_000_000_000  # a present-day epoch-ms value: the varints have today's length
_REF_BYTES = "ffff"
_REF_HASH = "ff" * 8


def charged_bytes(raw_data: Mapping[str, Any], signatures: int = 1) -> int:
    """Bandwidth bytes of a transaction with this ``raw_data`` and ``signatures`` 65-byte signatures."""
    raw = len(encode_raw(raw_data))
    envelope = 1 + _varint_len(raw) + raw
    per_signature = 1 + _varint_len(SIGNATURE_BYTES) + SIGNATURE_BYTES
    contracts = len(raw_data.get("contract") or ())
    return envelope + signatures * per_signature + MAX_RESULT_SIZE_IN_TX * contracts


def signed_bytes(signed_json: str) -> int:
    """Bandwidth bytes of a stored signed transaction (its ``raw_data`` and its signatures)."""
    stored = json.loads(signed_json)
    return charged_bytes(stored["raw_data"], max(1, len(stored.get("signature") or ())))


def trc20_transfer_bytes(owner: str, contract: str, to: str, amount: int, fee_limit_sun: int) -> int:
    """Bytes a TRC20 ``transfer(to, amount)`` from ``owner`` with this ``fee_limit`` will be charged."""
    value = {
        "owner_address": to_hex(owner),
        "contract_address": to_hex(contract),
        "data": TRANSFER_SELECTOR + abi_word(to) + format(amount, "064x"),
    }
    return charged_bytes(_raw("TriggerSmartContract", value, fee_limit=fee_limit_sun))


def trx_transfer_bytes(owner: str, to: str, amount_sun: int) -> int:
    """Bytes a TRX transfer will be charged."""
    value = {"owner_address": to_hex(owner), "to_address": to_hex(to), "amount": amount_sun}
    return charged_bytes(_raw("TransferContract", value))


def delegate_bytes(owner: str, receiver: str, balance_sun: int, *, resource: str) -> int:
    """Bytes a Stake 2.0 ``DelegateResource`` (or its undelegation, within a byte) will be charged."""
    value = {
        "owner_address": to_hex(owner),
        "receiver_address": to_hex(receiver),
        "balance": balance_sun,
        "resource": resource,
    }
    return charged_bytes(_raw("DelegateResourceContract", value))


def _raw(kind: str, value: Mapping[str, Any], *, fee_limit: int = 0) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "contract": [
            {
                "parameter": {"value": dict(value), "type_url": f"type.googleapis.com/protocol.{kind}"},
                "type": kind,
            }
        ],
        "ref_block_bytes": _REF_BYTES,
        "ref_block_hash": _REF_HASH,
        "expiration": _STAND_IN_TIME_MS + 60_000,
        "timestamp": _STAND_IN_TIME_MS,
    }
    if fee_limit:
        raw["fee_limit"] = fee_limit
    return raw


def _varint_len(value: int) -> int:
    length = 1
    while value >= 0x80:
        value >>= 7
        length += 1
    return length
