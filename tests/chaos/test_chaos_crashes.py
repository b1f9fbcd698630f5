"""Crashes: a worker SIGKILLed at each dangerous instruction, Redis, the database and beat restarted.

Every scenario runs the real processes against the devnet, injects its crash while sweeps are in
flight, lets the system recover on its own (Celery re-delivers what a dead pool process held, reconcile
re-enqueues what a dead worker held), and ends with the safety invariants.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from devnet.server import Devnet
from sweeper import failpoints
from sweeper.errors import LockBusy
from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.migrate import upgrade
from sweeper.ledger.repository import Ledger
from sweeper.models import USDT_MAINNET, SweepState
from tasks import locks
from tests.chaos.harness import TRX, USDT, Chaos
from tests.chaos.invariants import check_invariants
from tests.e2e.helpers import Site, wait_for
from tests.fixtures.db import LEDGER_TABLES
from tests.fixtures.services import REDIS_PORT
from tests.support.stack import add_deposits, drive, stack

pytestmark = pytest.mark.chaos

IN_FLIGHT = (SweepState.ENERGY_ORDERED, SweepState.ACTIVATING, SweepState.ENERGY_READY, SweepState.SIGNED)
POINTS = [
    failpoints.AFTER_ORDER_SENT,
    failpoints.AFTER_SIGN_BEFORE_BROADCAST,
    failpoints.AFTER_BROADCAST_BEFORE_STORE,
    failpoints.DURING_CONFIRM,
]


def test_workers_killed_at_each_dangerous_point_recover_and_sweep_every_deposit_exactly_once(
    chaos_site: Chaos, tmp_path: Path
) -> None:
    """Every failpoint is armed to SIGKILL the pool process that reaches it first, once in the run:
    after an order is sent but before its answer is stored, after signing but before the broadcast,
    after the broadcast but before it is recorded, and between the final receipt and CONFIRMED."""
    marker = tmp_path / "failpoints"
    armed = ",".join(f"{point}=kill:1" for point in POINTS)
    chaos_site.configure(SWEEPER_FAILPOINTS=armed, SWEEPER_FAILPOINTS_STATE=str(marker))
    chaos_site.site.scan_from_head()
    chaos_site.start(workers=2, concurrency=2)
    chaos_site.deposit(6, activated=3)

    chaos_site.settle()

    assert sorted(p.name for p in marker.iterdir()) == sorted(POINTS)  # each fired, exactly once
    lines = [line for w in chaos_site.workers for line in chaos_site.processes.logs(w).splitlines()]
    assert sum("exited with 'signal 9 (SIGKILL)'" in line for line in lines) == len(POINTS)
    assert chaos_site.check().swept == 6
    for sweep in chaos_site.site.ledger.sweeps(limit=100):
        assert sweep.state is SweepState.CONFIRMED


def test_a_transfer_broadcast_just_before_a_crash_is_found_on_chain_not_replaced_once_it_expires(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies after the node accepted the transfer but before the ledger said so, and comes
    back only after the transaction's expiration: the sweep must find it mined, not sign another."""
    with stack(devnet, tmp_path, monkeypatch) as (rt, hot):
        (address,) = add_deposits(rt, 1)
        devnet.chain.fund(address, 1 * TRX)
        devnet.chain.mint(address, 40 * USDT)
        devnet.chain.produce_blocks(1)
        sweep = rt.flow.detect(address, USDT_MAINNET)
        assert sweep is not None
        failpoints.arm(failpoints.AFTER_BROADCAST_BEFORE_STORE, "raise")
        try:
            with pytest.raises(failpoints.FailpointHit):
                drive(rt, [sweep.id], timeout=60)
        finally:
            failpoints.disarm()
        stored = rt.ledger.get_sweep(sweep.id)
        assert stored is not None and stored.state is SweepState.SIGNED and stored.txid
        wait_for(lambda: devnet.chain.tx_record(stored.txid or ""), 30, "the transfer to be mined")
        rt.flow.clock = lambda: time.time() + 120  # the worker is back long after the expiration

        states = drive(rt, [sweep.id], timeout=60)

        assert states == {sweep.id: SweepState.CONFIRMED}
        check_invariants(devnet, rt.ledger, {address: 40 * USDT}, hot)


def test_a_whole_worker_killed_mid_run_and_restarted_strands_nothing(chaos_site: Chaos) -> None:
    """SIGKILL to the worker's process group: the messages it held stay unacknowledged in Redis,
    and reconcile re-enqueues their sweeps from the ledger."""
    chaos_site.site.scan_from_head()
    chaos_site.configure(SWEEPER_RECONCILE_INTERVAL_SECONDS="2")
    chaos_site.start(workers=2)
    chaos_site.deposit(6, activated=3)
    chaos_site.wait_for_state(lambda s: s.state in IN_FLIGHT, "a sweep in flight")

    chaos_site.restart("w1")
    time.sleep(1)
    chaos_site.restart("w2")

    chaos_site.settle()
    assert chaos_site.check().swept == 6


def test_a_redis_restart_mid_run_loses_queued_messages_but_no_sweep(chaos_site: Chaos) -> None:
    """Redis (broker, locks, schedule tokens) is SIGKILLed without persistence and back 2 s later."""
    chaos_site.site.scan_from_head()
    chaos_site.configure(SWEEPER_RECONCILE_INTERVAL_SECONDS="2")
    chaos_site.start(workers=2)
    chaos_site.deposit(6, activated=3)
    chaos_site.wait_for_state(lambda s: s.state in IN_FLIGHT, "a sweep in flight")

    chaos_site.redis.restart(down_for=2.0)

    chaos_site.settle()
    assert chaos_site.check().swept == 6


def test_beat_killed_and_restarted_keeps_one_schedule_and_the_sweeps_go_on(chaos_site: Chaos) -> None:
    chaos_site.site.scan_from_head()
    # Beat logs each send ("Sending due task") at DEBUG only (config/logging.py): this run needs them.
    chaos_site.configure(SWEEPER_RECONCILE_INTERVAL_SECONDS="2", SWEEPER_LOG_LEVEL="DEBUG")
    chaos_site.start(workers=1)
    chaos_site.deposit(3, activated=2)
    chaos_site.wait_for_state(lambda s: s.state in IN_FLIGHT, "a sweep in flight")

    chaos_site.restart("beat")
    restarted = time.time()
    chaos_site.deposit(3, activated=1)  # detected only through the restarted beat's scanner

    chaos_site.settle()
    time.sleep(6)
    assert chaos_site.check().swept == 6
    sends = [t for t in reconcile_sent(chaos_site) if t > restarted]
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert len(sends) >= 3 and min(gaps) > 1.0, sends  # every 2 s, from one beat: no doubled schedule


@pytest.mark.postgres
def test_database_connections_dropped_mid_run_are_retried_without_a_duplicate(
    chaos_site: Chaos, pg_url: str
) -> None:
    """Every worker's PostgreSQL backend is terminated (pg_terminate_backend) three times mid-run."""
    site = on_postgres(chaos_site, pg_url)
    site.scan_from_head()
    chaos_site.start(workers=2)
    chaos_site.deposit(6, activated=3)
    chaos_site.wait_for_state(lambda s: s.state in IN_FLIGHT, "a sweep in flight")

    killed = 0
    for _ in range(3):
        killed += terminate_backends(pg_url)
        time.sleep(1.5)
    assert killed > 0

    chaos_site.settle()
    assert chaos_site.check().swept == 6


def reconcile_sent(chaos: Chaos) -> list[float]:
    """When beat sent each reconcile (epoch seconds), from its JSON log (every beat process appends to it)."""
    out = []
    for line in chaos.processes.logs("beat").splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if str(record.get("event", "")).startswith("Scheduler: Sending due task reconcile "):
            out.append(datetime.fromisoformat(record["timestamp"]).timestamp())  # ISO 8601, UTC ("Z")
    return out


def on_postgres(chaos: Chaos, pg_url: str) -> Site:
    """Point the scenario's site (and the workers) at an emptied, migrated PostgreSQL ledger."""
    upgrade(pg_url)
    engine = create_engine_for(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE")
    chaos.site.close()
    chaos.site = Site(chaos.site.devnet, Ledger(engine), pg_url, chaos.site.hot, chaos.site.workdir)
    chaos.configure()
    return chaos.site


def terminate_backends(pg_url: str) -> int:
    """pg_terminate_backend every other connection to the ledger's database; returns how many."""
    url = make_url(pg_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True
    ) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        ).fetchall()
    return len(rows)


def test_an_address_lock_is_kept_while_its_holder_lives_and_freed_soon_after_it_is_killed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SIGKILLed worker must not keep an address locked for minutes; a slow live one keeps it."""
    monkeypatch.setattr(locks, "LOCK_TTL_S", 1.0)
    monkeypatch.setattr(locks, "RENEW_EVERY_S", 0.3)
    monkeypatch.setattr(locks, "WAIT_S", 0.1)
    prefix = f"chaos-lock-test:{os.getpid()}:"
    client = redis.Redis.from_url(f"redis://127.0.0.1:{REDIS_PORT}/0")
    other = redis.Redis(port=REDIS_PORT)
    mine, theirs = locks.RedisLocks(client, prefix), locks.RedisLocks(other, prefix)
    try:
        with mine.hold("Tlive"):
            time.sleep(2.5)  # well past the TTL: renewed, so nobody else gets in
            with pytest.raises(LockBusy), theirs.hold("Tlive"):
                pass
        with theirs.hold("Tlive"):
            pass

        holder = subprocess.run(
            [sys.executable, "-c", KILLED_HOLDER, prefix, str(REDIS_PORT)],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert holder.returncode == -signal.SIGKILL and b"held" in holder.stdout
        with pytest.raises(LockBusy), theirs.hold("Tdead"):
            pass
        assert wait_for(lambda: _free(theirs, "Tdead"), 5, "the dead holder's lock to expire")
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


KILLED_HOLDER = """
import os, signal, sys
import redis
from tasks import locks
locks.LOCK_TTL_S, locks.RENEW_EVERY_S = 1.0, 0.3
with locks.RedisLocks(redis.Redis(port=int(sys.argv[2])), sys.argv[1]).hold("Tdead"):
    print("held", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _free(lock_set: locks.RedisLocks, address: str) -> bool:
    try:
        with lock_set.hold(address):
            return True
    except LockBusy:
        return False
