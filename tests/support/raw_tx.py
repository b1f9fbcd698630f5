"""Unsigned ``raw_data`` of a TRC20 transfer, as the adapter hands it to a signer: for policy tests."""

from __future__ import annotations

from sweeper.chain.addresses import abi_word, to_hex
from sweeper.models import USDT_MAINNET


def trc20_transfer(
    owner: str, to: str, amount: int, *, now_ms: int, token: str = USDT_MAINNET, lifetime_ms: int = 60_000
) -> dict[str, object]:
    """``transfer(to, amount)`` on ``token`` from ``owner``, built at ``now_ms``, living ``lifetime_ms``."""
    value = {
        "owner_address": to_hex(owner),
        "contract_address": to_hex(token),
        "data": "a9059cbb" + abi_word(to) + format(amount, "064x"),
    }
    contract = {
        "parameter": {"value": value, "type_url": "type.googleapis.com/protocol.TriggerSmartContract"}
    }
    return {
        "contract": [{**contract, "type": "TriggerSmartContract"}],
        "ref_block_bytes": "0001",
        "ref_block_hash": "00" * 8,
        "timestamp": now_ms,
        "expiration": now_ms + lifetime_ms,
        "fee_limit": 30_000_000,
    }
