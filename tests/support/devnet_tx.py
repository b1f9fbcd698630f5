"""Signed transactions for the devnet's in-process `Chain`, shaped like the ones clients broadcast.

Built from the chain's own head block (as TronWeb does) and signed with the devnet's independent
secp256k1 code, so unit tests exercise admission and execution without HTTP.
"""

from __future__ import annotations

import itertools
from typing import Any

from devnet import protobuf
from devnet.chain import Chain
from devnet.crypto import abi_address, sign_digest, to_hex_address
from devnet.usdt import SEL, USDT_ADDRESS

TRX = 1_000_000
_SEQUENCE = itertools.count(1)  # distinct timestamps: otherwise two equal transfers share a txID


def signed(
    chain: Chain,
    priv: bytes,
    ctype: str,
    value: dict[str, Any],
    *,
    fee_limit: int = 0,
    expiration_ms: int = 60_000,
) -> dict[str, Any]:
    """A broadcast body `{raw_data, signature}` for one contract of `ctype`, referencing the head block."""
    head = chain.head_block()
    raw: dict[str, Any] = {
        "contract": [
            {
                "parameter": {"value": value, "type_url": f"type.googleapis.com/protocol.{ctype}"},
                "type": ctype,
            }
        ],
        "ref_block_bytes": head.block_id[12:16],
        "ref_block_hash": head.block_id[16:32],
        "expiration": head.timestamp + expiration_ms,
        "timestamp": head.timestamp + next(_SEQUENCE),
    }
    if fee_limit:
        raw["fee_limit"] = fee_limit
    txid = protobuf.txid(raw)
    return {"raw_data": raw, "signature": [sign_digest(priv, bytes.fromhex(txid)).hex()]}


def trx_transfer(chain: Chain, priv: bytes, owner: str, to: str, amount: int) -> dict[str, Any]:
    value = {"owner_address": to_hex_address(owner), "to_address": to_hex_address(to), "amount": amount}
    return signed(chain, priv, "TransferContract", value)


def token_transfer(
    chain: Chain,
    priv: bytes,
    owner: str,
    to: str,
    amount: int,
    *,
    token: str = USDT_ADDRESS,
    fee_limit: int = 100 * TRX,
) -> dict[str, Any]:
    value = {
        "owner_address": to_hex_address(owner),
        "contract_address": to_hex_address(token),
        "data": SEL["transfer(address,uint256)"] + abi_address(to) + f"{amount:064x}",
    }
    return signed(chain, priv, "TriggerSmartContract", value, fee_limit=fee_limit)


def delegate(
    chain: Chain,
    priv: bytes,
    owner: str,
    receiver: str,
    sun: int,
    *,
    resource: str = "ENERGY",
    lock: bool = False,
    lock_period: int = 0,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "owner_address": to_hex_address(owner),
        "resource": resource,
        "balance": sun,
        "receiver_address": to_hex_address(receiver),
    }
    if lock:
        value["lock"] = True
    if lock_period:
        value["lock_period"] = lock_period
    return signed(chain, priv, "DelegateResourceContract", value)


def undelegate(
    chain: Chain, priv: bytes, owner: str, receiver: str, sun: int, *, resource: str = "ENERGY"
) -> dict[str, Any]:
    value = {
        "owner_address": to_hex_address(owner),
        "resource": resource,
        "balance": sun,
        "receiver_address": to_hex_address(receiver),
    }
    return signed(chain, priv, "UnDelegateResourceContract", value)


def submit(chain: Chain, body: dict[str, Any]) -> str:
    return chain.submit(chain.parse(body))
