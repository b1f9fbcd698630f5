"""Request signatures of the three providers, as pure functions (docs/PROVIDERS.md).

Each client sends exactly the bytes it signed, so server-side re-serialisation cannot make them differ.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def compact_json(params: Mapping[str, Any]) -> str:
    """Keys sorted, no whitespace, non-ASCII escaped, ``/`` unescaped: the form itrx and ea888fee sign."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def spaced_json(params: Mapping[str, Any]) -> str:
    """Keys sorted with Python's default separators: the form itrx's own callback sample verifies."""
    return json.dumps(params, sort_keys=True, ensure_ascii=True)


def hmac_sha256_hex(secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 keyed with the secret *string* (never hex-decoded)."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def itrx_signature(secret: str, timestamp: str, body_json: str) -> str:
    """itrx: HMAC-SHA256 over ``TIMESTAMP&json`` (also how its callbacks are signed)."""
    return hmac_sha256_hex(secret, f"{timestamp}&{body_json}")


def ea888fee_body(params: Mapping[str, Any]) -> str:
    """ea888fee's canonical body: empty values dropped, keys sorted, compact; ``{}`` when nothing is left."""
    kept = {k: v for k, v in params.items() if v is not None and v != ""}
    return compact_json(kept) if kept else "{}"


def ea888fee_signature(secret: str, timestamp: str, body_json: str) -> str:
    """ea888fee: HMAC-SHA256 over ``TIMESTAMP&json`` of the canonical body."""
    return hmac_sha256_hex(secret, f"{timestamp}&{body_json}")


def tronzap_signature(secret: str, body: str) -> str:
    """TronZap: plain SHA-256 of the exact body followed by the secret (no HMAC, no timestamp)."""
    return hashlib.sha256((body + secret).encode("utf-8")).hexdigest()
