"""The energy cost policy: how much energy, which source, and failing over without ordering twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sweeper.errors import (
    PolicyRefused,
)
from sweeper.models import Quote
from sweeper.policy import (
    Excluded,
    Exclusion,
    NoSourceFits,
    choose_source,
    energy_needed,
    percent_cap_sun,
    rank,
)

pytestmark = pytest.mark.unit

USDT = 6


@pytest.mark.parametrize(
    ("holds", "margin", "available", "needed"),
    [
        (True, 0, 0, 64_285),
        (False, 0, 0, 130_285),
        (True, 1_000, 0, 65_285),
        (False, 0, 30_000, 100_285),
        (True, 0, 64_285, 0),
        (True, 500, 200_000, 0),
    ],
)
def test_energy_needed_counts_the_margin_and_what_the_address_already_has(holds, margin, available, needed):
    assert energy_needed(holds, margin, available) == needed


def three() -> list[Quote]:
    return [
        Quote("itrx", 65_000, 3_900_000),
        Quote("ea888fee", 65_000, 2_925_000),
        Quote("tronzap", 65_000, 3_380_000),
    ]


def test_the_cheapest_of_three_differently_priced_sources_comes_first():
    chosen = choose_source(
        three(),
        {"itrx", "ea888fee", "tronzap"},
        amount_units=100 * 10**USDT,
        max_sun_per_sweep=8_000_000,
        max_percent=5.0,
    )
    assert [q.source for q in chosen] == ["ea888fee", "tronzap", "itrx"]


def test_equal_prices_keep_the_configured_preference_order():
    quotes = [Quote("itrx", 65_000, 3_000_000), Quote("tronzap", 65_000, 3_000_000)]
    chosen = choose_source(
        quotes, {"itrx", "tronzap"}, amount_units=10**9, max_sun_per_sweep=10**7, max_percent=5
    )
    assert [q.source for q in chosen] == ["itrx", "tronzap"]


def test_activation_counts_toward_the_caps():
    quotes = [Quote("itrx", 65_000, 3_900_000, activation_sun=1_500_000), Quote("tronzap", 65_000, 5_000_000)]
    chosen = choose_source(
        quotes, {"itrx", "tronzap"}, amount_units=10**9, max_sun_per_sweep=5_200_000, max_percent=100
    )
    assert [q.source for q in chosen] == ["tronzap"]


def test_an_unhealthy_source_is_skipped_even_when_cheapest():
    chosen = choose_source(
        three(), {"itrx", "tronzap"}, amount_units=10**9, max_sun_per_sweep=10**7, max_percent=5
    )
    assert [q.source for q in chosen] == ["tronzap", "itrx"]


def test_when_every_source_exceeds_the_cap_the_refusal_names_each_and_why():
    with pytest.raises(NoSourceFits) as info:
        choose_source(
            three(),
            {"itrx", "tronzap"},
            amount_units=10**9,
            max_sun_per_sweep=2_000_000,
            max_percent=5,
            failed={"stake": "provider_out_of_resources"},
        )
    refusal = info.value
    assert isinstance(refusal, PolicyRefused)
    assert set(refusal.exclusions) == {"itrx", "ea888fee", "tronzap", "stake"}
    assert "circuit open" in refusal.exclusions["ea888fee"]
    assert "3.9 TRX exceeds the cap of 2 TRX" in refusal.exclusions["itrx"]
    for name in ("itrx", "ea888fee", "tronzap", "stake"):
        assert name in str(refusal)


def test_the_percent_cap_converts_the_token_amount_with_the_configured_price():
    # 20 USDT at 3.5 TRX each is 70 TRX; 5 % of it is 3.5 TRX.
    assert percent_cap_sun(20 * 10**USDT, USDT, 5.0, Decimal("3.5")) == 3_500_000
    chosen = choose_source(
        three(),
        {"itrx", "ea888fee", "tronzap"},
        amount_units=20 * 10**USDT,
        max_sun_per_sweep=8_000_000,
        max_percent=5.0,
        trx_per_token="3.5",
    )
    assert [q.source for q in chosen] == ["ea888fee", "tronzap"]


def test_a_small_deposit_is_refused_by_the_percent_cap():
    with pytest.raises(NoSourceFits) as info:
        choose_source(
            three(),
            {"itrx", "ea888fee", "tronzap"},
            amount_units=1 * 10**USDT,
            max_sun_per_sweep=8_000_000,
            max_percent=5.0,
            trx_per_token="3.5",
        )
    assert all("5.0% of the swept amount" in why for why in info.value.exclusions.values())


def test_without_a_price_the_percent_cap_is_not_applied():
    assert percent_cap_sun(1, USDT, 5, None) is None


def test_the_percent_cap_rounds_down_exactly():
    assert percent_cap_sun(1, USDT, "0.1", "3.333333") == 0
    assert percent_cap_sun(3 * 10**USDT, USDT, Decimal("33.3333"), "1") == 999_999


def test_typed_exclusions_tell_a_cap_from_a_sick_source_without_reading_messages():
    ranking = rank(
        three(),
        {"itrx", "tronzap"},
        amount_units=10**9,
        max_sun_per_sweep=3_000_000,
        max_percent=5,
        excluded=[Excluded("stake", Exclusion.UNAVAILABLE, "node down")],
    )
    assert [q.source for q in ranking.accepted] == []
    whys = {e.source: e.why for e in ranking.excluded}
    assert whys == {
        "stake": Exclusion.UNAVAILABLE,
        "itrx": Exclusion.OVER_SWEEP_CAP,
        "ea888fee": Exclusion.CIRCUIT_OPEN,
        "tronzap": Exclusion.OVER_SWEEP_CAP,
    }
    assert ranking.transient and ranking.over_cap


def test_a_ranking_with_no_source_at_all_counts_as_over_the_cap():
    ranking = rank([], set(), amount_units=1, max_sun_per_sweep=1, max_percent=5)
    assert ranking.over_cap and not ranking.transient and ranking.summary() == "no source configured"
