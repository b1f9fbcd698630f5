"""Signing a built tronpy transaction with a ``Signer``: the adapter holds no private keys.

Before the signer is asked, the txid the node returned is checked against our own hash of the raw data;
the signer gets the raw data itself (it recomputes the txid and applies the signing policy); after, the
signature is checked to recover the owner's address over our txid. Both failures are permanent.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tronpy.exceptions import BadSignature
from tronpy.keys import Signature

from sweeper.chain import txid as local_txid
from sweeper.chain.addresses import to_base58, to_hex
from sweeper.chain.intent import Intent
from sweeper.chain.port import Signer
from sweeper.errors import BadTransactionSignature, ChainRejected, InvalidAddress
from sweeper.models import SignedTx


def sign(txn: Any, signer: Signer, intent: Intent, *, now_ms: int | None = None) -> SignedTx:
    """Append ``signer``'s signature to tronpy ``Transaction`` ``txn`` and return it ready to store.

    The signer is handed the unsigned raw data and ``intent``, never a bare hash. ``now_ms`` is the
    chain time it was built at (the head block's timestamp); without it, our clock.
    """
    raw: dict[str, Any] = txn._raw_data
    expected = local_txid.txid(raw)
    if txn.txid != expected:
        raise ChainRejected(
            f"node returned txid {txn.txid or '(none)'} for a transaction that hashes to {expected}",
            reason="txid_mismatch",
        )
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now >= int(raw["expiration"]):
        raise ChainRejected(f"transaction {expected} expired before it was signed", reason="expired")
    owner_hex = to_hex(signer.address)
    permission = txn._permission
    if permission is not None:
        allowed = {_hex(key.get("address", "")) for key in permission.get("keys") or ()}
        if owner_hex not in allowed:
            raise BadTransactionSignature(f"{signer.address} is not a key of the owner permission")
    digest = bytes.fromhex(expected)
    signature = signer.sign_transaction(raw, intent)
    if len(signature) != 65:
        raise BadTransactionSignature(f"signer returned {len(signature)} bytes, expected 65")
    if _recover(digest, signature) != signer.address:
        raise BadTransactionSignature(f"signature does not recover to {signer.address}")
    txn._signature.append(signature.hex())
    return SignedTx(
        txid=expected,
        raw_json=json.dumps(txn.to_json(), separators=(",", ":")),
        expiration_ms=int(raw["expiration"]),
    )


def _hex(address: str) -> str:
    try:
        return to_hex(to_base58(address))
    except InvalidAddress:
        return ""


def _recover(digest: bytes, signature: bytes) -> str:
    try:
        public_key = Signature(signature).recover_public_key_from_msg_hash(digest)
    except BadSignature:  # a malformed signature is simply not the owner's
        return ""
    return str(public_key.to_base58check_address())
