"""The providers' documented signing vectors (docs/PROVIDERS.md §2.1, §2.5, §3.1, §4.1)."""

from __future__ import annotations

import json

import pytest

from sweeper.energy.signing import (
    compact_json,
    ea888fee_body,
    ea888fee_signature,
    itrx_signature,
    spaced_json,
    tronzap_signature,
)

pytestmark = pytest.mark.unit

ITRX_SECRET = "0285A2741D0E76E2E187260EB23E51851D48403A756333E7D0CF845406ABF3E8"
EA_SECRET = "1864fb62564c8e516ecad98b001918b1feddf3d6e5ab93b1de20f7cdb3f8e159"
TZ_SECRET = "your_api_secret"
TS = "1686796826"


def test_itrx_order_vector_matches_the_documented_signature():
    body = {
        "energy_amount": 32000,
        "period": "1D",
        "receive_address": "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw",
        "callback_url": "http://{mydomain}/callback",
        "out_trade_no": "123456",
    }
    text = compact_json(body)
    assert text == (
        '{"callback_url":"http://{mydomain}/callback","energy_amount":32000,"out_trade_no":"123456",'
        '"period":"1D","receive_address":"TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw"}'
    )
    assert (
        itrx_signature(ITRX_SECRET, TS, text)
        == "07c125cabfe006614a02131f927cca9e7a654f7644a817b155fad591e1c50f7b"
    )


def test_itrx_collect_manual_vector_matches():
    body = {
        "scene": 2,
        "receive_address": "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw",
        "callback_url": "http://{mydomain}/callback",
        "out_trade_no": "123456",
    }
    sig = itrx_signature(ITRX_SECRET, TS, compact_json(body))
    assert sig == "25e9715f691b56a0b4e4c91f7b2e9ad03c601f33c3878daaeb4e5a590747091b"


CALLBACK = {
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


def test_itrx_callback_vectors_match_in_both_json_forms():
    assert (
        itrx_signature(ITRX_SECRET, "1700000000", compact_json(CALLBACK))
        == "119916c9b2177d4674d60f87773f02f35a1ed8160af6e890d0cc5c61942500af"
    )
    assert (
        itrx_signature(ITRX_SECRET, "1700000000", spaced_json(CALLBACK))
        == "791bf06b02e59e876ec4bc31276878447d9b92539a21a9a1d3533c734fc6ca9b"
    )


def test_non_ascii_is_escaped_and_slashes_are_not():
    assert compact_json({"b": "/x", "a": "找"}) == '{"a":"\\u627e","b":"/x"}'


def test_ea888fee_empty_body_signs_as_braces_and_matches_the_balance_curl():
    assert ea888fee_body({}) == "{}"
    assert ea888fee_body({"x": None, "y": ""}) == "{}"
    sig = ea888fee_signature(EA_SECRET, TS, "{}")
    assert sig == "257f130f0cbf6b6dfa35834cf283a5090ab8d1e9769ef67e9efea3a8f05a0105"


def _ea_order(out_trade_no: str) -> dict[str, object]:
    return {
        "energyAmount": 65000,
        "period": "1H",
        "receiveAddress": "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS",
        "notifyUrl": "https://{mydomain}/notify",
        "outTradeNo": out_trade_no,
    }


@pytest.mark.parametrize(
    ("out_trade_no", "expected"),
    [
        ("123456", "a58c18cc56142f17f555ce7a779de7590310b569151cb469674700491384f914"),
        ("123465", "82bad4651fc9605e9931df5ea57a7622da8cb65d0ff2dacd9f4e6cf6c8ad50e0"),
    ],
)
def test_ea888fee_order_vectors_match_the_corrected_values(out_trade_no, expected):
    assert ea888fee_signature(EA_SECRET, TS, ea888fee_body(_ea_order(out_trade_no))) == expected


def test_ea888fee_documented_step3_value_is_not_what_the_standard_construction_gives():
    sig = ea888fee_signature(EA_SECRET, TS, ea888fee_body(_ea_order("123456")))
    assert sig != "bf9932cf848d6fa126ab1aca742acdc624481116e37bde154d7a6412ee4ef07e"


def test_ea888fee_order_info_vector_matches_the_corrected_value():
    body = ea888fee_body({"orderNo": "790208155853393920"})
    assert ea888fee_signature(EA_SECRET, TS, body) == (
        "dba9c759cdf5d6927157a75fffa572555e23cb5c6405728075ec3fa821e1db39"
    )


def test_ea888fee_drops_empty_fields_before_signing():
    assert ea888fee_body({"b": 1, "a": "", "c": None}) == '{"b":1}'


TZ_BODY = {
    "external_id": "my-external-id-123",
    "service": "energy",
    "params": {"address": "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw", "amounts": {"energy": 65000}, "duration": 1},
}


def test_tronzap_vectors_match_for_empty_compact_and_spaced_bodies():
    assert (
        tronzap_signature(TZ_SECRET, "{}")
        == "9bc073b788ee4e28a4a7d639afd8a5d89174cf26e03bea15ac077510f275977b"
    )
    compact = json.dumps(TZ_BODY, separators=(",", ":"))
    assert tronzap_signature(TZ_SECRET, compact) == (
        "5230d03fdd6fa1c9ca967b04c71885c112e850afc2efd46ca32e84b071e6eca7"
    )
    assert tronzap_signature(TZ_SECRET, json.dumps(TZ_BODY)) == (
        "70ad72411e5abcac1989adda636ee049df39bbad8ee1e34960502535ddd2297f"
    )
