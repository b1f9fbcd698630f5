"""Turning a broadcast body into a pending Tx, and the stateless checks java-tron runs on it.

Order (java-tron Wallet.broadcastTransaction → Manager.pushTransaction → processTransaction): one
contract → expiration against the next slot → signature → TaPoS → validity window → duplicate →
bandwidth, fees and actuator/VM on the pending state (the last part lives in `devnet/execution.py`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from devnet import protobuf, render
from devnet.crypto import recover_address
from devnet.errors import ChainError, signature_error, validate_error
from devnet.execution import Tx

MAX_EXPIRATION_MS = 86_400_000  # java-tron: expiration at most 24 h past the head block
OWNER_PERMISSION_ID = 0
ACTIVE_PERMISSION_ID = 2


def parse(body: dict[str, Any], visible: bool = False) -> Tx:
    """Build a Tx from `{raw_data, signature}`; ignores the client's txID/permission/raw_data_hex."""
    raw = body.get("raw_data")
    if not isinstance(raw, dict):
        raise ChainError("OTHER_ERROR", "raw_data is missing or not an object")
    contracts = raw.get("contract")
    if not isinstance(contracts, list) or len(contracts) != 1:
        raise validate_error("act size should be exactly 1, this is extend feature")
    contract = contracts[0]
    try:
        stored = render.raw_hex(raw)
        raw_bytes = protobuf.encode_raw(stored)
    except ValueError as exc:
        if "unsupported contract type" in str(exc):
            raise validate_error(
                f"contract type {contract.get('type')} is not supported by the devnet"
            ) from None
        raise ChainError("OTHER_ERROR", f"malformed raw_data: {exc}") from None
    sigs = body.get("signature") or []
    if not isinstance(sigs, list) or not all(isinstance(s, str) for s in sigs):
        raise ChainError("OTHER_ERROR", "signature must be a list of hex strings")
    value = stored["contract"][0]["parameter"]["value"]
    owner = value.get("owner_address") or ""
    if not owner:
        raise validate_error("Invalid ownerAddress!")
    try:
        size = protobuf.transaction_size(stored, sigs)
    except ValueError as exc:
        raise signature_error(f"sig error: {exc}") from None
    expiration = raw.get("expiration", 0) or 0
    if not isinstance(expiration, int):
        raise ChainError("OTHER_ERROR", "expiration must be an integer")
    return Tx(
        txid=hashlib.sha256(raw_bytes).hexdigest(),
        raw=stored,
        raw_hex=raw_bytes.hex(),
        signatures=list(sigs),
        ctype=contract["type"],
        value=value,
        owner=owner,
        nbytes=size + 64,
        expiration=expiration,
    )


def check_tapos(raw: dict[str, Any], recent: dict[str, str]) -> None:
    """ref_block_bytes must key one of the last 65 536 blocks whose id bytes 8-15 are ref_block_hash."""
    ref_bytes = str(raw.get("ref_block_bytes") or "").lower()
    ref_hash = str(raw.get("ref_block_hash") or "").lower()
    block_id = recent.get(ref_bytes)
    if block_id is None or block_id[16:32] != ref_hash:
        raise ChainError("TAPOS_ERROR", "Tapos check error.")


def check_next_slot(expiration: int, next_slot_time: int) -> None:
    """TransactionCapsule.checkExpiration: a broadcast must still be valid in the next block's slot."""
    if expiration < next_slot_time:
        raise ChainError("TRANSACTION_EXPIRATION_ERROR", "Transaction expired")


def check_expiration(expiration: int, head_time: int) -> None:
    if expiration <= head_time or expiration > head_time + MAX_EXPIRATION_MS:
        raise ChainError("TRANSACTION_EXPIRATION_ERROR", "Transaction expired")


def permission_id(tx: Tx) -> int:
    pid = tx.raw["contract"][0].get("Permission_id", 0) or 0
    return pid if isinstance(pid, int) else -1


def check_signatures(tx: Tx) -> None:
    """Every signature must recover to a key of the selected permission (owner or active = the owner key)."""
    if not tx.signatures:
        raise signature_error("miss sig or contract")
    if permission_id(tx) not in (OWNER_PERMISSION_ID, ACTIVE_PERMISSION_ID):
        raise signature_error("permission isn't exit")
    digest = bytes.fromhex(tx.txid)
    seen: set[str] = set()
    for sig in tx.signatures:
        try:
            sig_bytes = bytes.fromhex(sig)
        except ValueError:
            raise signature_error("sig error") from None
        if len(sig_bytes) != 65:
            raise signature_error(f"Signature size is {len(sig_bytes)}")
        try:
            signer = render.hex41(recover_address(digest, sig_bytes))
        except ValueError:
            raise signature_error("sig error") from None
        if signer != tx.owner:
            raise signature_error(
                f"{sig} is signed by {render.b58(signer)} but it is not contained of permission."
            )
        if signer in seen:
            raise signature_error(f"{render.b58(signer)} has signed twice!")
        seen.add(signer)


def sign_weight(tx: Tx, owner_exists: bool, visible: bool) -> dict[str, Any]:
    """getsignweight: the txID tronpy signs, and the permission whose keys it checks (hex unless visible)."""
    out: dict[str, Any] = {}
    if owner_exists:
        name = "active" if permission_id(tx) == ACTIVE_PERMISSION_ID else "owner"
        perm: dict[str, Any] = {}
        if name == "active":
            perm.update({"type": "Active", "id": ACTIVE_PERMISSION_ID})
        perm.update(
            {
                "permission_name": name,
                "threshold": 1,
                "keys": [{"address": render.addr_out(tx.owner, visible), "weight": 1}],
            }
        )
        out["permission"] = perm
        approved = []
        for sig in tx.signatures:
            try:
                approved.append(render.hex41(recover_address(bytes.fromhex(tx.txid), bytes.fromhex(sig))))
            except ValueError:
                continue
        if tx.owner in approved:
            out["approved_list"] = [render.addr_out(tx.owner, visible)]
            out["current_weight"] = 1
            out["result"] = {}
        else:
            out["result"] = {"code": "NOT_ENOUGH_PERMISSION"}
    else:
        out["result"] = {
            "code": "PERMISSION_ERROR",
            "message": render.message("Account does not exist!", visible),
        }
    out["transaction"] = {
        "result": {"result": True},
        "txid": tx.txid,
        "transaction": {
            "visible": visible,
            "txID": tx.txid,
            "raw_data": render.raw_out(tx.raw, visible),
            "raw_data_hex": tx.raw_hex,
            **({"signature": tx.signatures} if tx.signatures else {}),
        },
    }
    return out
