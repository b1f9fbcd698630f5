"""itrx callbacks are verified (either JSON form, fresh timestamp, constant-time) and parsed into events."""

from __future__ import annotations

import json

import pytest

from sweeper.callbacks import CallbackEvent, event_key, parse_itrx_callback
from sweeper.energy.signing import compact_json, itrx_signature
from sweeper.errors import CallbackRejected
from sweeper.models import OrderStatus

pytestmark = pytest.mark.unit

SECRET = "0285A2741D0E76E2E187260EB23E51851D48403A756333E7D0CF845406ABF3E8"
PAYLOAD = {
    "active_hash": "",
    "bandwidth_hash": "",
    "energy_amount": 32000,
    "out_trade_no": "123456",
    "pay_amount": 32170.005048646104,
    "receive_address": "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw",
    "serial": "886294f5204ac2fc1430f5a7d9215a80",
    "source": "api",
    "status": 40,
    "txid": "2610c200efc8a90601758715405fa6be4597469e854591975d113b720a762ec2",
    "type": "energy",
}
COMPACT_SIG = "119916c9b2177d4674d60f87773f02f35a1ed8160af6e890d0cc5c61942500af"
SPACED_SIG = "791bf06b02e59e876ec4bc31276878447d9b92539a21a9a1d3533c734fc6ca9b"
NOW = 1_700_000_010.0


def parse(body: bytes, signature: str = COMPACT_SIG, timestamp: str = "1700000000", **kw) -> CallbackEvent:
    headers = {"timestamp": timestamp, "Signature": signature, "Content-Type": "application/json"}
    return parse_itrx_callback(headers, body, secret=SECRET, now=kw.pop("now", NOW), **kw)


@pytest.mark.parametrize("signature", [COMPACT_SIG, SPACED_SIG, SPACED_SIG.upper()])
@pytest.mark.parametrize("body", [json.dumps(PAYLOAD), compact_json(PAYLOAD), json.dumps(PAYLOAD, indent=2)])
def test_the_documented_vectors_verify_in_both_json_forms_whatever_the_body_layout(signature, body):
    event = parse(body.encode(), signature)
    assert event.serial == "886294f5204ac2fc1430f5a7d9215a80"
    assert event.out_trade_no == "123456"
    assert event.status is OrderStatus.DELIVERED and event.status_code == 40
    assert event.txid == PAYLOAD["txid"]
    assert event.receive_address == PAYLOAD["receive_address"]
    assert event.energy == 32000 and event.delegated_energy == 32170
    assert event.timestamp == 1700000000


def test_a_tampered_body_is_rejected_as_a_bad_signature():
    forged = dict(PAYLOAD, receive_address="TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS")
    with pytest.raises(CallbackRejected) as info:
        parse(json.dumps(forged).encode())
    assert info.value.reason == "bad_signature"


def test_a_signature_made_with_another_secret_is_rejected():
    sig = itrx_signature("another secret", "1700000000", compact_json(PAYLOAD))
    with pytest.raises(CallbackRejected) as info:
        parse(compact_json(PAYLOAD).encode(), sig)
    assert info.value.reason == "bad_signature"


@pytest.mark.parametrize("now", [1_700_000_301.0, 1_699_999_699.0])
def test_a_timestamp_outside_the_tolerance_is_stale(now):
    with pytest.raises(CallbackRejected) as info:
        parse(compact_json(PAYLOAD).encode(), now=now)
    assert info.value.reason == "stale"


def test_the_tolerance_is_configurable():
    assert parse(compact_json(PAYLOAD).encode(), now=1_700_000_900.0, tolerance_seconds=1000).serial
    with pytest.raises(CallbackRejected):
        parse(compact_json(PAYLOAD).encode(), tolerance_seconds=5)


@pytest.mark.parametrize("missing", ["timestamp", "Signature"])
def test_missing_headers_are_rejected(missing):
    headers = {"timestamp": "1700000000", "Signature": COMPACT_SIG}
    del headers[missing]
    with pytest.raises(CallbackRejected) as info:
        parse_itrx_callback(headers, compact_json(PAYLOAD).encode(), secret=SECRET, now=NOW)
    assert info.value.reason == "missing_headers"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_malformed(body):
    with pytest.raises(CallbackRejected) as info:
        parse(body)
    assert info.value.reason == "malformed"


def _signed(payload: dict) -> tuple[bytes, str]:
    text = compact_json(payload)
    return text.encode(), itrx_signature(SECRET, "1700000000", text)


@pytest.mark.parametrize(
    "change",
    [
        {"serial": None},
        {"status": "forty"},
        {"receive_address": 7},
        {"energy_amount": None},
        {"status": True},
    ],
)
def test_a_correctly_signed_but_malformed_event_is_rejected(change):
    body, sig = _signed({**PAYLOAD, **change})
    with pytest.raises(CallbackRejected) as info:
        parse(body, sig)
    assert info.value.reason == "malformed"


def test_a_non_numeric_timestamp_is_malformed():
    with pytest.raises(CallbackRejected) as info:
        parse(compact_json(PAYLOAD).encode(), timestamp="1700000000000x")
    assert info.value.reason == "malformed"


def test_a_failure_callback_becomes_a_failed_event():
    body, sig = _signed({**PAYLOAD, "status": 41, "txid": ""})
    event = parse(body, sig)
    assert event.status is OrderStatus.FAILED and event.txid == ""


def test_the_same_event_redelivered_later_has_the_same_key_and_a_different_one_does_not():
    first = parse(compact_json(PAYLOAD).encode())
    text = compact_json(PAYLOAD)
    later = parse(text.encode(), itrx_signature(SECRET, "1700000005", text), timestamp="1700000005")
    assert event_key(first) == event_key(later)
    body, sig = _signed({**PAYLOAD, "status": 41})
    assert event_key(parse(body, sig)) != event_key(first)


STRINGS = {k: (str(v) if isinstance(v, int | float) else v) for k, v in PAYLOAD.items()}
"""The payload with numbers as strings, as the docs' own request example writes ``'32000'``."""


@pytest.mark.parametrize("signed", [STRINGS, PAYLOAD])
def test_numbers_given_as_strings_are_read_whichever_form_was_signed(signed):
    sig = itrx_signature(SECRET, "1700000000", compact_json(signed))
    event = parse(json.dumps(STRINGS).encode(), sig)
    assert event.status is OrderStatus.DELIVERED and event.energy == 32000 and event.delegated_energy == 32170


def test_a_form_body_is_read_and_verified_like_a_json_one():
    from urllib.parse import urlencode

    headers = {"timestamp": "1700000000", "Signature": COMPACT_SIG}
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    event = parse_itrx_callback(form, urlencode(STRINGS).encode(), secret=SECRET, now=NOW)
    assert event.serial == PAYLOAD["serial"] and event.status_code == 40
    forged = urlencode(dict(STRINGS, receive_address="TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS")).encode()
    with pytest.raises(CallbackRejected) as info:
        parse_itrx_callback(form, forged, secret=SECRET, now=NOW)
    assert info.value.reason == "bad_signature"
