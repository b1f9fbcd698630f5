"""``gettransactioninfobyid`` answers read into ``Receipt`` values.

Success is judged from the receipt, never from the return value: USDT's ``transfer`` returns false even
when it succeeds, so tronpy's ``result()`` cannot be used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweeper.models import Receipt


def parse_receipt(info: Mapping[str, Any]) -> Receipt | None:
    """Return the receipt of a mined transaction, or None for the node's empty answer (not mined)."""
    if not info or "id" not in info:
        return None
    inner: Mapping[str, Any] = info.get("receipt") or {}
    failed = info.get("result") == "FAILED"
    vm_result = inner.get("result")  # present only for smart-contract calls
    is_vm_call = vm_result is not None or "contract_address" in info
    success = not failed and (not is_vm_call or vm_result == "SUCCESS")
    result = str(vm_result) if vm_result is not None else ("FAILED" if failed else "SUCCESS")
    return Receipt(
        txid=str(info["id"]),
        block_number=int(info.get("blockNumber", 0)),
        success=success,
        result=result,
        fee_sun=int(info.get("fee", 0)),
        energy_usage_total=int(inner.get("energy_usage_total", 0)),
        energy_fee_sun=int(inner.get("energy_fee", 0)),
        net_usage=int(inner.get("net_usage", 0)),
        net_fee_sun=int(inner.get("net_fee", 0)),
        message=_text(info.get("resMessage", "")),
        logs=tuple(dict(entry) for entry in info.get("log") or ()),
    )


def _text(message: Any) -> str:
    """``resMessage`` is plain text with ``visible: true`` and hex otherwise; accept both."""
    text = str(message)
    if text and len(text) % 2 == 0:
        try:
            return bytes.fromhex(text).decode()
        except ValueError:
            return text
    return text
