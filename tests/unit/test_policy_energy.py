"""The energy cost policy: how much energy, which source, and failing over without ordering twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sweeper.energy.base import OrderOutcomeUnknown
from sweeper.errors import (
    PolicyRefused,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderUnavailable,
)
from sweeper.models import Quote
from sweeper.policy import NoSourceFits, choose_source, energy_needed, failover, percent_cap_sun

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


def test_failover_moves_to_the_next_source_when_the_cheapest_fails():
    tried: list[str] = []
    failures: list[str] = []

    def attempt(quote: Quote) -> str:
        tried.append(quote.source)
        if quote.source == "ea888fee":
            raise ProviderUnavailable("down")
        return f"ordered at {quote.source}"

    result = failover(
        sorted(three(), key=lambda q: q.cost_sun), attempt, on_failure=lambda q, e: failures.append(q.source)
    )
    assert result == "ordered at tronzap"
    assert tried == ["ea888fee", "tronzap"] and failures == ["ea888fee"]


def test_failover_stops_at_an_unknown_outcome_so_energy_is_never_bought_twice():
    tried: list[str] = []

    def attempt(quote: Quote) -> str:
        tried.append(quote.source)
        raise OrderOutcomeUnknown("maybe placed")

    with pytest.raises(OrderOutcomeUnknown):
        failover(three(), attempt)
    assert tried == ["itrx"]


def test_failover_exhausted_by_transient_errors_is_transient():
    def attempt(quote: Quote) -> str:
        raise ProviderUnavailable("down")

    with pytest.raises(ProviderUnavailable) as info:
        failover(three(), attempt)
    assert info.value.reason == "all_sources_failed"


def test_failover_exhausted_by_refusals_is_a_policy_refusal_naming_each_source():
    errors = iter([ProviderInsufficientBalance("poor"), ProviderInvalidRequest("no"), PolicyRefused("cap")])

    def attempt(quote: Quote) -> str:
        raise next(errors)

    with pytest.raises(NoSourceFits) as info:
        failover(three(), attempt)
    assert list(info.value.exclusions) == ["itrx", "ea888fee", "tronzap"]
    assert info.value.exclusions["itrx"].startswith("provider_insufficient_balance")
