"""End to end, MERX, Feee.io and CatFee each alone, the first order's reply lost on the way back.

A Celery worker and beat run as real processes against the devnet. The simulator creates and charges the
first order, then drops its reply: the sweeps still finish, one order each, and the provider's account
shows exactly one charge per sweep (MERX and CatFee find the order again under our number; Feee.io's is
judged by its energy on chain).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sweeper.models import SweepState
from tasks.processes import ProcessGroup
from tests.e2e.helpers import USDT, Site, fast_devnet, flushed_redis
from tests.e2e.test_sources_e2e import assert_swept_once, mint_deposits, transfer_fee

pytestmark = pytest.mark.e2e

REDIS_DB = 12  # this suite's own broker database
SETTLE_TIMEOUT = 120.0
ACTIVATES = {"merx": False, "feee": False, "catfee": True}


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(REDIS_DB) as url:
        yield url


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    with fast_devnet() as devnet:
        world = Site.create(devnet, tmp_path)
        try:
            yield world
        finally:
            world.close()


def provider_state(site: Site, source: str, **switches: object) -> dict[str, object]:
    url = f"{site.devnet.provider_url(source)}/devnet/provider-faults"
    response = httpx.post(url, json=switches, timeout=10) if switches else httpx.get(url, timeout=10)
    response.raise_for_status()
    state: dict[str, object] = response.json()
    return state


@pytest.mark.parametrize("source", list(ACTIVATES))
def test_each_new_source_alone_sweeps_and_a_lost_reply_costs_one_order(
    source: str, site: Site, broker: str, processes: ProcessGroup
) -> None:
    processes.env = site.env(broker, order=source)
    site.scan_from_head()
    balance_before = int(str(provider_state(site, source, drop_response=True, count=1)["balance"]))
    processes.worker("w1", concurrency=2)
    processes.beat()

    amounts = [120 * USDT, 45 * USDT] + ([300 * USDT] if ACTIVATES[source] else [])
    plan = mint_deposits(site, amounts, activated=2)
    sweeps = site.settled(list(plan), SETTLE_TIMEOUT)

    assert_swept_once(site, sweeps, plan, source)  # one CONFIRMED sweep, one DELIVERED order each
    local = provider_state(site, source)["local"]
    assert isinstance(local, dict) and local["drop_response"] is False  # the first order's reply was dropped
    orders = [o for a in plan for o in site.ledger.orders_for_sweep(sweeps[a][0].id)]
    known = [o.cost_sun for o in orders if o.cost_sun]
    charged = balance_before - int(str(provider_state(site, source)["balance"]))
    if source == "feee":
        # the lost reply's charge is not known to the ledger: the account shows one charge per sweep
        assert len(set(known)) == 1 and len(known) == len(plan) - 1
        assert charged == known[0] * len(plan)
    else:
        assert len(known) == len(plan) and charged == sum(known)  # the re-asked order was charged once
        for address in plan:
            sweep = sweeps[address][0]
            (order,) = site.ledger.orders_for_sweep(sweep.id)
            assert sweep.state is SweepState.CONFIRMED
            assert sweep.cost_sun == (order.cost_sun or 0) + transfer_fee(site, sweep)
