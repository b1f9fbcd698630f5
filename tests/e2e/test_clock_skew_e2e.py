"""End to end with one worker host's wall clock two minutes off: nothing is ordered, sent or failed twice.

Two Celery workers share a PostgreSQL ledger and the Redis broker, as two hosts of one deployment do; beat
and the first worker read true time, the second runs its wall clock ``SKEW`` seconds off
(``tests/support/skewed_clock``: the process's ``time.time`` and ``datetime.now``, monotonic clocks
untouched, as on a host whose NTP stopped). The provider delegates ``DELAY_BLOCKS`` blocks after an order,
so a worker that judged an order's age by its own clock against a timestamp another worker wrote would
see it far older (fast clock: it gives up on a delivering order and buys the energy elsewhere) or far
younger than it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from devnet.server import Devnet
from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.migrate import upgrade
from sweeper.ledger.records import Sweep
from sweeper.ledger.repository import Ledger
from sweeper.models import SweepState
from tasks.processes import ProcessGroup
from tests.e2e.helpers import BLOCK_TIME, USDT, Site, flushed_redis, wait_for
from tests.fixtures.db import LEDGER_TABLES

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REDIS_DB = 12
DELAY_BLOCKS = 60  # 15 s between an order and its delegation
ORDER_TIMEOUT_S = 100  # longer than the delivery takes, shorter than delivery + the skew
SKEWED_CLOCK = Path(__file__).resolve().parents[1] / "support" / "skewed_clock"


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(REDIS_DB) as url:
        yield url


@pytest.fixture
def site(tmp_path: Path, pg_url: str) -> Iterator[Site]:
    devnet = Devnet(
        port=0,
        block_time=BLOCK_TIME,
        solid_depth=2,
        callback_time_scale=0.05,
        provider_delay_blocks=DELAY_BLOCKS,
    )
    devnet.start()
    upgrade(pg_url)
    engine = create_engine_for(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE"))
    world = Site.create(devnet, tmp_path)
    world.ledger.engine.dispose()
    world = Site(devnet, Ledger(engine), pg_url, world.hot, tmp_path)
    try:
        yield world
    finally:
        world.close()
        devnet.stop()


@pytest.mark.parametrize("skew", [120, -120], ids=["clock-2min-fast", "clock-2min-slow"])
def test_a_worker_host_with_its_clock_two_minutes_off_neither_orders_sends_nor_fails_twice(
    site: Site, broker: str, processes: ProcessGroup, skew: int
) -> None:
    processes.env = site.env(
        broker, order="itrx,tronzap", extra={"SWEEPER_ORDER_TIMEOUT_SECONDS": str(ORDER_TIMEOUT_S)}
    )
    site.scan_from_head()
    processes.worker("true", concurrency=2)
    skewed = {"PYTHONPATH": str(SKEWED_CLOCK), "SWEEPER_TEST_CLOCK_SKEW_SECONDS": str(skew)}
    processes.worker("skewed", concurrency=2, env=skewed)
    processes.beat()
    addresses = site.deposits(6)
    for address in addresses:
        site.devnet.chain.fund(address, 1)
    site.devnet.chain.produce_blocks(1)
    for n, address in enumerate(addresses, start=1):
        site.devnet.chain.mint(address, n * 10 * USDT)

    def settled() -> list[Sweep] | None:
        sweeps = [s for a in addresses for s in site.sweeps_of(a)]
        failed = [(s.id, s.reason) for s in sweeps if s.state is SweepState.FAILED]
        assert not failed, failed
        done = [s for s in sweeps if s.state is SweepState.CONFIRMED]
        return sweeps if len(done) == len(addresses) else None

    sweeps = wait_for(settled, 240, "every deposit swept", interval=0.5)
    assert len(sweeps) == len(addresses)
    assert sorted(s.amount for s in sweeps) == [n * 10 * USDT for n in range(1, 7)]
    assert site.usdt(site.hot) == 1 + 210 * USDT  # each deposit arrived once
    for sweep in sweeps:
        energy = [o for o in site.ledger.orders_for_sweep(sweep.id) if o.step == "energy"]
        assert [o.status.value for o in energy] == ["DELIVERED"], (sweep.id, energy)  # bought once
        assert len(site.ledger.txs_for_sweep(sweep.id)) == 1
    # The skewed host took its share of the work (else this proves nothing about it).
    lines = (processes.workdir / "skewed.log").read_text().splitlines()
    ran = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r.get("task") == "sweeper.advance" and r.get("event") == "task.done" for r in ran)
    # Nor did it throw beat's periodic tasks away as expired by its own clock.
    assert not [r["event"] for r in ran if str(r.get("event", "")).startswith("Discarding revoked task")]
