"""Procurement on in-memory seams: choosing, failing over and costing, answered as decisions."""

from __future__ import annotations

import pytest

from sweeper.errors import PolicyRefused, ProviderInvalidRequest, ProviderUnavailable
from sweeper.ledger.records import OrderRequestStatus, TxKind
from sweeper.models import ResourceNeed, SignedTx
from sweeper.policy import Exclusion
from sweeper.procurement import Exhausted, Ordered, Wait
from tests.fixtures.db import tron_address
from tests.support.memory import USDT_CONTRACT, heart

pytestmark = pytest.mark.unit

USDT = 1_000_000
A = tron_address("procure-a")
NEED = ResourceNeed(energy=64_285, required_energy=64_285)


def opened(h, amount=50 * USDT):
    h.deposit(A, amount)
    return h.ledger.get_sweep(h.open(A))


def test_the_cheapest_source_is_chosen_under_a_number_of_the_sweep_and_attempt():
    h = heart(prices={"dear": 60, "cheap": 40, "mid": 50})
    s = opened(h)
    choice = h.flow.procurement.choose(s, h.flow.assets.get(USDT_CONTRACT), NEED, amount=s.amount)
    assert isinstance(choice, Ordered)
    assert (
        choice.quote.source == "cheap"
        and choice.order_no == f"sw{h.ledger.deployment_id()}s{s.id}a0o1"
        and choice.step == "energy"
    )


def test_each_left_out_source_has_a_typed_reason():
    h = heart(prices={"a": 40, "b": 50, "c": 60, "d": 70}, activation={"b": False})
    h.sources["c"].quote_error = ProviderUnavailable("503")
    h.sources["d"].quote_error = ProviderInvalidRequest("period")
    s = opened(h)
    need = ResourceNeed(energy=64_285, activation=True, required_energy=64_285)
    ranking = h.flow.procurement.rank(
        s, h.flow.assets.get(USDT_CONTRACT), need, amount=s.amount, exclude=frozenset({"a"})
    )
    assert ranking.accepted == ()
    assert {e.source: e.why for e in ranking.excluded} == {
        "a": Exclusion.ALREADY_TRIED,
        "b": Exclusion.CANNOT_ACTIVATE,
        "c": Exclusion.UNAVAILABLE,
        "d": Exclusion.REFUSED,
    }


def test_a_source_whose_own_cap_refuses_counts_as_a_fee_cap():
    h = heart(prices={"burnish": 40})
    h.sources["burnish"].quote_error = PolicyRefused("over the burn cap", reason="burn_cap")
    s = opened(h)
    choice = h.flow.procurement.choose(s, h.flow.assets.get(USDT_CONTRACT), NEED, amount=s.amount)
    assert isinstance(choice, Exhausted) and choice.reason == "fee_cap"


def test_sick_sources_mean_wait_not_give_up():
    h = heart()
    for source in h.sources.values():
        source.quote_error = ProviderUnavailable("down")
    s = opened(h)
    choice = h.flow.procurement.choose(s, h.flow.assets.get(USDT_CONTRACT), NEED, amount=s.amount)
    assert isinstance(choice, Wait) and choice.seconds == 30.0 and "cheap" in choice.why


def test_failover_prefers_sources_not_yet_tried_then_asks_all_again_within_the_budget():
    h = heart(max_orders_per_sweep=3)
    s = opened(h)
    asset = h.flow.assets.get(USDT_CONTRACT)
    h.ledger.record_order_request(s.id, "energy", "cheap", "n1", 64_285)
    h.ledger.update_order("cheap", "n1", status=OrderRequestStatus.FAILED)
    first = h.flow.procurement.failover(s, asset, NEED)
    assert isinstance(first, Ordered) and first.quote.source == "dear"
    h.ledger.record_order_request(s.id, "energy", "dear", "n2", 64_285)
    h.ledger.update_order("dear", "n2", status=OrderRequestStatus.FAILED)
    again = h.flow.procurement.failover(s, asset, NEED)
    assert isinstance(again, Ordered) and again.quote.source == "cheap"
    h.ledger.record_order_request(s.id, "energy", "cheap", "n3", 64_285)
    spent = h.flow.procurement.failover(s, asset, NEED)
    assert isinstance(spent, Exhausted) and spent.reason == "no_energy_source"


def test_the_cost_counts_rented_energy_and_burned_trx_once():
    h = heart()
    s = opened(h)
    h.ledger.record_order_request(s.id, "energy", "cheap", "n1", 64_285)
    h.ledger.update_order("cheap", "n1", status=OrderRequestStatus.DELIVERED, cost_sun=2_000_000)
    h.ledger.store_signed_tx(s.id, TxKind.TRANSFER, SignedTx("aa" * 32, "{}", 0))
    h.ledger.mark_tx("aa" * 32, h.ledger.get_tx("aa" * 32).status, fee_sun=345_000)
    assert h.flow.procurement.cost(s, 0) == 2_000_000 + 345_000


def test_a_quote_for_less_energy_than_the_need_is_never_chosen_however_cheap():
    h = heart(prices={"short": 10, "full": 60})
    h.sources["short"].maximum = 65_000  # sizes the order itself, for one transfer to a holder
    s = opened(h)
    need = ResourceNeed(energy=130_285, required_energy=130_285)
    asset = h.flow.assets.get(USDT_CONTRACT)
    ranking = h.flow.procurement.rank(s, asset, need, amount=s.amount)
    assert [q.source for q in ranking.accepted] == ["full"]
    (left_out,) = ranking.excluded
    assert left_out.source == "short" and left_out.why is Exclusion.TOO_LITTLE_ENERGY
    assert "65000 energy, the sweep needs 130285" in str(left_out)
    choice = h.flow.procurement.choose(s, asset, need, amount=s.amount)
    assert isinstance(choice, Ordered) and choice.quote.source == "full"


def test_a_rental_shorter_than_the_sweep_needs_is_left_out():
    from sweeper.models import Quote
    from sweeper.policy import rank

    quotes = [Quote("minute", 70_000, 1, duration="1M"), Quote("hour", 70_000, 9, duration="1H")]
    ranking = rank(
        quotes,
        {"minute", "hour"},
        amount_units=10**8,
        max_sun_per_sweep=10**9,
        max_percent=5,
        need_energy=65_000,
        need_seconds=240,
    )
    assert [q.source for q in ranking.accepted] == ["hour"]
    assert ranking.excluded[0].why is Exclusion.TOO_SHORT
