"""Two real ``celery beat`` processes on one Redis send one schedule; when the leader dies the other leads.

The scanner entry runs every second and nothing consumes the ``scan`` queue, so the queue's length is
the number of scans sent. Without the leader lock two beats send about twice the one-beat count.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tasks.beat_lock import LOCK_KEY, LeaderLock
from tasks.processes import ProcessGroup
from tests.e2e.helpers import Site, fast_devnet, flushed_redis, wait_for

pytestmark = pytest.mark.e2e

REDIS_DB = 5
INTERVAL = 1.0
LOCK_SECONDS = 3.0
WINDOW = 8.0


def beat(group: ProcessGroup, name: str) -> None:
    schedule = group.workdir / f"{name}-schedule"
    argv = [sys.executable, "-m", "celery", "-A", "tasks.app", "beat", "-s", str(schedule), "-l", "INFO"]
    group._spawn(name, argv)


def test_two_beats_send_one_schedule_and_the_second_takes_over_when_the_first_dies(tmp_path: Path) -> None:
    with flushed_redis(REDIS_DB) as broker, fast_devnet() as devnet:
        site = Site.create(devnet, tmp_path)
        env = site.env(
            broker,
            order="itrx",
            extra={
                "SWEEPER_SCAN_INTERVAL_SECONDS": str(INTERVAL),
                "SWEEPER_BEAT_LOCK_SECONDS": str(LOCK_SECONDS),
            },
        )
        group = ProcessGroup(env=env, workdir=tmp_path)
        client = redis.Redis.from_url(broker)
        try:
            beat(group, "beat-a")
            beat(group, "beat-b")
            wait_for(lambda: client.llen("scan") >= 2, 60, "the first scans to be sent")
            wait_for(
                lambda: "beat: Starting" in group.logs("beat-a") + group.logs("beat-b"), 30, "both beats"
            )
            time.sleep(2 * INTERVAL)  # both are ticking now
            assert all(p.poll() is None for p in group.children.values())

            start = client.llen("scan")
            time.sleep(WINDOW)
            sent = client.llen("scan") - start
            assert WINDOW / INTERVAL - 3 <= sent <= WINDOW / INTERVAL + 2, sent  # one schedule, not two

            holder = (client.get(LOCK_KEY) or b"").decode()
            leader = next(name for name, p in group.children.items() if f":{p.pid}:" in holder)
            group.kill(leader, signal.SIGKILL)  # dies holding the lock: the other sees its process is gone
            killed_at = client.llen("scan")
            wait_for(
                lambda: client.llen("scan") > killed_at + 2, LOCK_SECONDS * 4, "the other beat to take over"
            )
            follower = next(name for name in group.children if name != leader)
            assert f":{group.children[follower].pid}:" in (client.get(LOCK_KEY) or b"").decode()
        finally:
            group.stop()
            client.close()
            site.close()


def test_a_lock_held_by_another_host_is_waited_out_and_one_held_by_a_dead_local_process_is_taken() -> None:
    with flushed_redis(REDIS_DB) as url:
        client = redis.Redis.from_url(url)
        try:
            lock = LeaderLock(client, ttl=1.5)
            assert lock.hold() and lock.hold()  # taken, then renewed
            lock.release()
            assert client.get(LOCK_KEY) is None

            client.set(LOCK_KEY, "another-host:1:abcd", px=1500)
            assert not lock.hold()
            wait_for(lock.hold, 5, "the other host's lock to expire", interval=0.2)

            dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that is gone
            dead.wait()
            client.set(LOCK_KEY, f"{socket.gethostname()}:{dead.pid}:abcd", px=60_000)
            assert lock.hold()
            assert client.get(LOCK_KEY) == lock.token.encode()
        finally:
            client.close()
