"""A real Celery worker's main process keeps neither the time limits its finished tasks cancelled nor
the requests of those tasks (tasks/memory.py).

The prefork pool arms a soft time limit on the worker's timer for every task and cancels it when the task
ends; kombu keeps a cancelled entry in its heap until it comes due (90 s here). A finished request sits in
reference cycles until a full collection, which with the imports counted comes rarely. The step that
``tasks.memory.install`` adds freezes what start-up left before the pool forks and, once a second, drops
the cancelled entries and collects, with trimming on or off.

A worker process (prefork, Redis broker and results) of a small app that installs the step or not, asked
over Celery's remote control what its main process holds after 150 tasks, half of them held a second by
a countdown (as the sweeper's polls are).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from tests.e2e.helpers import flushed_redis

pytestmark = pytest.mark.integration

REDIS_DB = 4
TASKS = 150
ROOT = Path(__file__).parents[2]

_APP = """
import gc
import os

from celery import Celery
from celery.worker.control import inspect_command
from celery.worker.request import Request

from tasks import memory

app = Celery("timer_app", broker=os.environ["TEST_BROKER"], backend=os.environ["TEST_BROKER"])
app.conf.update(task_soft_time_limit=90, task_time_limit=120, worker_hijack_root_logger=False)
if os.environ["TEST_INSTALL"] == "1":
    memory.install(app, float(os.environ["TEST_TRIM_SECONDS"]))


@app.task(name="timer_app.noop")
def noop(i):
    return i


@inspect_command()
def timer_heap(state):
    queue = state.consumer.timer._queue
    return {
        "entries": len(queue),
        "cancelled": sum(1 for item in queue if item.entry.canceled),
        "requests": sum(1 for o in gc.get_objects() if isinstance(o, Request)),
        "frozen": gc.get_freeze_count(),
    }
"""


def _worker(tmp_path: Path, broker: str, install: bool, trim_seconds: float) -> subprocess.Popen[bytes]:
    (tmp_path / "timer_app.py").write_text(_APP)
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "TEST_BROKER": broker,
        "TEST_INSTALL": "1" if install else "0",
        "TEST_TRIM_SECONDS": str(trim_seconds),
    }
    argv = [sys.executable, "-m", "celery", "-A", "timer_app", "worker", "-c", "2", "-P", "prefork"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    return subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("wb")
    )


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(REDIS_DB) as url:
        yield url


def _heap_after_tasks(tmp_path: Path, broker: str, install: bool, trim_seconds: float = 10.0) -> Any:
    client = Celery("timer_client", broker=broker, backend=broker)
    worker = _worker(tmp_path, broker, install, trim_seconds)
    try:
        deadline = time.monotonic() + 60
        while not client.control.ping(timeout=1.0):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker did not answer a ping within 60 s"
        results = [client.send_task("timer_app.noop", args=(i,), countdown=i % 2) for i in range(TASKS)]
        assert [r.get(timeout=60) for r in results] == list(range(TASKS))
        time.sleep(2.5)  # more than the second between two clearings
        (reply,) = client.control.broadcast("timer_heap", reply=True, timeout=5.0)
        return next(iter(reply.values()))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client.close()


@pytest.mark.parametrize("trim_seconds", [10.0, 0.0], ids=["trim-on", "trim-off"])
def test_the_main_process_keeps_no_cancelled_time_limit_nor_finished_request(
    tmp_path: Path, broker: str, trim_seconds: float
) -> None:
    heap = _heap_after_tasks(tmp_path, broker, install=True, trim_seconds=trim_seconds)
    assert heap["cancelled"] < 5, heap
    assert heap["entries"] < 20, heap  # the worker's own repeating entries, not one per task
    assert heap["requests"] < 5, heap
    assert heap["frozen"] > 10_000, heap  # the imports, out of the collector's sight


def test_without_the_step_the_main_process_keeps_them(tmp_path: Path, broker: str) -> None:
    heap = _heap_after_tasks(tmp_path, broker, install=False)
    assert heap["cancelled"] >= TASKS * 0.9, heap  # what the step is for: Celery alone keeps them 90 s
    assert heap["frozen"] == 0, heap
    # The requests that waited out a countdown were promoted, then died in cycles: 75 of 75 measured
    assert heap["requests"] >= 10, heap
