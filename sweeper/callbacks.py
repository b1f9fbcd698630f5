"""Verify and parse itrx callbacks (docs/PROVIDERS.md, itrx callbacks), as pure functions.

A callback carries ``TIMESTAMP`` and ``SIGNATURE`` headers; the signature is HMAC-SHA256 over
``TIMESTAMP&json`` of the body with sorted keys. Whether itrx uses compact or Python-default separators
is unknown (its Python receiver sample verifies the spaced form, the PHP/Java ones the compact form), so
both are accepted, and the raw body as sent. The docs show numbers as digit strings (``'32000'``), and the
content type is not stated: digit strings count as numbers and a form body is read like a JSON one — a
signature must still match one canonical form of exactly what was received (docs/PROVIDERS.md §2.5).
The timestamp must be within a tolerance of now, the comparison is constant-time, and replays are caught
by the receiver storing :func:`event_key` under a unique index.
Nothing in a callback can name a destination: it only tells us which order to look at again.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from sweeper.energy.signing import compact_json, itrx_signature, spaced_json
from sweeper.errors import CallbackRejected
from sweeper.models import OrderStatus

DEFAULT_TOLERANCE_SECONDS = 300.0
MAX_BODY_BYTES = 64 * 1024
STATUSES = {40: OrderStatus.DELIVERED, 41: OrderStatus.FAILED}


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A verified itrx callback: which order, how it ended, and the delegation's transaction."""

    provider: str
    serial: str
    out_trade_no: str
    status: OrderStatus
    status_code: int
    txid: str
    receive_address: str
    energy: int
    delegated_energy: int
    active_hash: str
    timestamp: int


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_itrx_signature(
    secret: str, timestamp: str, payload: Mapping[str, Any], signature: str, raw: str | None = None
) -> bool:
    """True if ``signature`` matches the payload in either JSON form, or the raw body as sent.

    Every candidate is compared in constant time, so timing does not reveal which form was close.
    """
    given = signature.strip().lower()
    forms = [compact_json(payload), spaced_json(payload)] + ([raw] if raw is not None else [])
    ok = False
    for form in forms:
        ok |= hmac.compare_digest(itrx_signature(secret, timestamp, form), given)
    return ok


def _text(payload: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise CallbackRejected(f"callback field {name!r} is missing", reason="malformed")
        return ""
    if not isinstance(value, str):
        raise CallbackRejected(f"callback field {name!r} is not a string", reason="malformed")
    return value


def _int(payload: Mapping[str, Any], name: str) -> int:
    """A number field, given as a JSON number or as a decimal string (``"32000"``, ``"32170.00504"``)."""
    value = payload.get(name)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise CallbackRejected(f"callback field {name!r} is not a number", reason="malformed")
        return int(number)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CallbackRejected(f"callback field {name!r} is not a number", reason="malformed")
    return int(value)


NUMBER_FIELDS = frozenset({"energy_amount", "pay_amount", "status"})
"""The callback fields the docs' body example shows as numbers (docs/PROVIDERS.md §2.5)."""


def _numbers(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload with the number fields' strings as numbers: what a sender that signed numbers used."""
    out = dict(payload)
    for key in NUMBER_FIELDS & set(payload):
        value = payload[key]
        if not isinstance(value, str):
            continue
        text = value.strip()
        if text.lstrip("-").isdigit():
            out[key] = int(text)
        else:
            with contextlib.suppress(InvalidOperation):
                out[key] = float(text) if Decimal(text).is_finite() else value
    return out


def _payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The callback's fields from a JSON body, or from a form body (``application/x-www-form-urlencoded``)."""
    kind = (_header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise CallbackRejected("callback form body is malformed", reason="malformed") from None
        return dict(pairs)
    try:
        payload = json.loads(body)  # floats round-trip exactly through repr, as the signer wrote them
    except ValueError:
        raise CallbackRejected("callback body is not JSON", reason="malformed") from None
    if not isinstance(payload, dict):
        raise CallbackRejected("callback body is not a JSON object", reason="malformed")
    return payload


def parse_itrx_callback(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> CallbackEvent:
    """Verify an itrx callback and return it as a typed event, or raise CallbackRejected with a reason."""
    timestamp = _header(headers, "TIMESTAMP")
    signature = _header(headers, "SIGNATURE")
    if not timestamp or not signature:
        raise CallbackRejected("TIMESTAMP or SIGNATURE header is missing", reason="missing_headers")
    timestamp = timestamp.strip()
    if not timestamp.isdigit():
        raise CallbackRejected("TIMESTAMP is not Unix seconds", reason="malformed")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise CallbackRejected("TIMESTAMP is outside the accepted window", reason="stale")
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRejected("callback body is too large", reason="malformed")
    payload = _payload(headers, body)
    raw = body.decode("utf-8", errors="replace")
    ok = verify_itrx_signature(secret, timestamp, payload, signature, raw)
    numeric = _numbers(payload)
    if numeric != payload:  # strings the sender may have signed as numbers: one more pair of forms
        ok |= verify_itrx_signature(secret, timestamp, numeric, signature)
    if not ok:
        raise CallbackRejected("callback signature does not match", reason="bad_signature")
    code = _int(payload, "status")
    return CallbackEvent(
        provider="itrx",
        serial=_text(payload, "serial", required=True),
        out_trade_no=_text(payload, "out_trade_no"),
        status=STATUSES.get(code, OrderStatus.PENDING),
        status_code=code,
        txid=_text(payload, "txid"),
        receive_address=_text(payload, "receive_address", required=True),
        energy=_int(payload, "energy_amount"),
        delegated_energy=_int(payload, "pay_amount") if payload.get("pay_amount") is not None else 0,
        active_hash=_text(payload, "active_hash"),
        timestamp=int(timestamp),
    )


def event_key(event: CallbackEvent) -> str:
    """A key the receiver stores under a unique index: the same event delivered twice has the same key."""
    return f"{event.provider}:{event.serial}:{event.status_code}:{event.txid}"
