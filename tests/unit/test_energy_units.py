"""TRX decimals (numbers or numeric strings) become sun exactly, never through float arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeper.energy.units import trx_to_sun, trx_to_sun_ceil

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "sun"),
    [
        (8.25, 8_250_000),
        ("3.40", 3_400_000),
        (Decimal("100.50"), 100_500_000),
        (0.1, 100_000),
        (0.3, 300_000),
        ("0.000001", 1),
        (1.4, 1_400_000),
        (7, 7_000_000),
        ("0", 0),
    ],
)
def test_trx_amounts_convert_to_exact_sun(value, sun):
    assert trx_to_sun(value) == sun


def test_a_float_that_float_math_gets_wrong_still_converts_exactly():
    assert int(8.2 * 1_000_000) == 8_199_999  # float math loses a sun
    assert trx_to_sun(8.2) == 8_200_000
    assert trx_to_sun(json.loads('{"a": 4.35}', parse_float=Decimal)["a"]) == 4_350_000


@pytest.mark.parametrize("value", ["0.0000001", -1, "abc", True, None, "NaN", float("inf")])
def test_amounts_finer_than_a_sun_negative_or_not_numbers_are_refused(value):
    with pytest.raises(ValueError):
        trx_to_sun(value)


def test_derived_figures_round_up_so_a_cost_is_never_understated():
    assert trx_to_sun_ceil(Decimal("0.0523") * 65 / 1000) == 3400
    assert trx_to_sun_ceil("0.0000001") == 1


@given(st.integers(min_value=0, max_value=10**14))
def test_every_sun_amount_round_trips_through_its_trx_string_and_json_number(sun):
    text = f"{Decimal(sun) / 1_000_000:f}"
    assert trx_to_sun(text) == sun
    assert trx_to_sun(float(text)) == sun
