"""The devnet providers sign and verify as the providers' documented vectors say (docs/PROVIDERS.md)."""

from __future__ import annotations

import json

import pytest

from devnet.providers.callbacks import callback_body, callback_headers
from devnet.providers.common import (
    EA888FEE_API_SECRET,
    ITRX_API_SECRET,
    TRONZAP_API_SECRET,
    ea888fee_canonical,
    ea888fee_signature,
    is_tron_address,
    itrx_signature,
    merged_prices,
    signature_matches,
    timestamp_fresh,
    tronzap_signature,
    trx_number,
    trx_string,
)

pytestmark = pytest.mark.unit

ITRX_ORDER = {
    "energy_amount": 32000,
    "period": "1D",
    "receive_address": "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw",
    "callback_url": "http://{mydomain}/callback",
    "out_trade_no": "123456",
}
ITRX_CALLBACK = {
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
EA_ORDER = {
    "energyAmount": 65000,
    "period": "1H",
    "receiveAddress": "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS",
    "notifyUrl": "https://{mydomain}/notify",
    "outTradeNo": "123456",
}
TZ_ORDER = {
    "external_id": "my-external-id-123",
    "service": "energy",
    "params": {"address": "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw", "amounts": {"energy": 65000}, "duration": 1},
}


def test_itrx_order_signature_matches_the_documented_vector():
    expected = "07c125cabfe006614a02131f927cca9e7a654f7644a817b155fad591e1c50f7b"
    assert itrx_signature(ITRX_API_SECRET, "1686796826", ITRX_ORDER) == expected


def test_itrx_collect_manual_signature_matches_the_spec_vector():
    body = {k: v for k, v in ITRX_ORDER.items() if k not in ("energy_amount", "period")} | {"scene": 2}
    expected = "25e9715f691b56a0b4e4c91f7b2e9ad03c601f33c3878daaeb4e5a590747091b"
    assert itrx_signature(ITRX_API_SECRET, "1686796826", body) == expected


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("compact", "119916c9b2177d4674d60f87773f02f35a1ed8160af6e890d0cc5c61942500af"),
        ("spaced", "791bf06b02e59e876ec4bc31276878447d9b92539a21a9a1d3533c734fc6ca9b"),
    ],
)
def test_itrx_callbacks_are_signed_over_the_body_they_send_in_either_json_style(style, expected):
    body = callback_body(ITRX_CALLBACK, style)
    headers = callback_headers(ITRX_API_SECRET, body, "1700000000")
    assert headers["SIGNATURE"] == expected
    assert headers["TIMESTAMP"] == "1700000000"
    assert json.loads(body) == ITRX_CALLBACK


def test_ea888fee_balance_signature_over_empty_params_matches_the_documented_curl():
    expected = "257f130f0cbf6b6dfa35834cf283a5090ab8d1e9769ef67e9efea3a8f05a0105"
    assert ea888fee_signature(EA888FEE_API_SECRET, "1686796826", {}) == expected
    assert ea888fee_signature(EA888FEE_API_SECRET, "1686796826", None) == expected


def test_ea888fee_order_signature_matches_the_documented_curl_value():
    expected = "a58c18cc56142f17f555ce7a779de7590310b569151cb469674700491384f914"
    assert ea888fee_signature(EA888FEE_API_SECRET, "1686796826", EA_ORDER) == expected


def test_ea888fee_signature_for_the_123465_body_and_order_info_match_the_spec_corrections():
    body = EA_ORDER | {"outTradeNo": "123465"}
    assert (
        ea888fee_signature(EA888FEE_API_SECRET, "1686796826", body)
        == "82bad4651fc9605e9931df5ea57a7622da8cb65d0ff2dacd9f4e6cf6c8ad50e0"
    )
    assert (
        ea888fee_signature(EA888FEE_API_SECRET, "1686796826", {"orderNo": "790208155853393920"})
        == "dba9c759cdf5d6927157a75fffa572555e23cb5c6405728075ec3fa821e1db39"
    )


def test_ea888fee_drops_empty_fields_before_signing():
    with_empties = EA_ORDER | {"notifyUrl": "", "extra": None}
    assert ea888fee_canonical(with_empties) == (
        '{"energyAmount":65000,"outTradeNo":"123456","period":"1H",'
        '"receiveAddress":"TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"}'
    )
    assert ea888fee_canonical({"a": "", "b": None}) == "{}"


def test_tronzap_signature_is_sha256_of_the_exact_body_then_the_secret():
    assert tronzap_signature("{}", TRONZAP_API_SECRET) == (
        "9bc073b788ee4e28a4a7d639afd8a5d89174cf26e03bea15ac077510f275977b"
    )
    compact = json.dumps(TZ_ORDER, separators=(",", ":"))
    assert tronzap_signature(compact, TRONZAP_API_SECRET) == (
        "5230d03fdd6fa1c9ca967b04c71885c112e850afc2efd46ca32e84b071e6eca7"
    )
    assert tronzap_signature(json.dumps(TZ_ORDER).encode(), TRONZAP_API_SECRET) == (
        "70ad72411e5abcac1989adda636ee049df39bbad8ee1e34960502535ddd2297f"
    )


def test_signature_compare_ignores_header_case_and_rejects_missing_values():
    sig = itrx_signature(ITRX_API_SECRET, "1686796826", ITRX_ORDER)
    assert signature_matches(sig, sig.upper())
    assert not signature_matches(sig, None)
    assert not signature_matches(sig, sig[:-1] + "0")


def test_timestamps_are_fresh_within_300_seconds_either_side_only():
    now = 1_700_000_000.0
    assert timestamp_fresh("1700000300", now=now)
    assert timestamp_fresh("1699999700", now=now)
    assert not timestamp_fresh("1699999699", now=now)
    assert not timestamp_fresh("1700000000000", now=now)  # milliseconds are not seconds
    assert not timestamp_fresh("abc", now=now)
    assert not timestamp_fresh(None, now=now)


def test_only_base58_tron_addresses_are_accepted():
    assert is_tron_address("TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw")
    assert not is_tron_address("TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kX")
    assert not is_tron_address("41" + "00" * 20)
    assert not is_tron_address(None)


def test_trx_amounts_render_exactly_as_numbers_and_two_decimal_strings():
    assert trx_number(3_380_000) == 3.38
    assert trx_number(1_000_000) == 1
    assert trx_string(3_400_000) == "3.40"
    assert trx_string(52_000) == "0.052"
    assert trx_string(7_000_000) == "7.00"


def test_default_prices_differ_per_provider_and_can_be_overridden():
    table = merged_prices({"itrx": {"1H": 30}})
    assert table["itrx"]["1H"] == 30
    from devnet.providers.ea888fee import charge  # ea888fee lists its prices in its own unit

    per_energy = charge(table["ea888fee"]["1H"], 1_000_000) / 1_000_000
    assert per_energy < table["tronzap"]["1H"] < merged_prices(None)["itrx"]["1H"]
