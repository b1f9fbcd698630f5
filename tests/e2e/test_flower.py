"""End to end through Flower: an operator applies sweeper tasks over Flower's REST API (basic auth).

Flower is started as ``sweeper flower`` (locked down): only the operator tasks can be applied and every
worker control command is disabled (that it refuses to start without real credentials is checked in
tests/unit/test_flower_lockdown.py).

One deployment for the module (devnet, a worker, a real Flower process, Redis as broker and result
backend); each test uses deposit addresses of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devnet.crypto import generate_key
from sweeper.ledger import DepositAddress
from sweeper.models import SweepState
from tasks.processes import ProcessGroup, free_port
from tests.e2e.helpers import CONFIRMATIONS, TRX, USDT, Site, fast_devnet, flushed_redis, wait_for

pytestmark = pytest.mark.e2e

REDIS_DB = 11  # this suite's own broker and result database
USER, PASSWORD = "operator", "flower-e2e-password"
CONTROL = [
    "/api/worker/shutdown/{worker}",
    "/api/worker/pool/restart/{worker}",
    "/api/worker/pool/grow/{worker}",
    "/api/worker/pool/autoscale/{worker}",
    "/api/worker/queue/cancel-consumer/{worker}",
    "/api/task/rate-limit/{worker}",
    "/api/task/timeout/{worker}",
    "/api/task/send-task/celery.backend_cleanup",
    "/api/task/revoke/0",
]
SETTLE_TIMEOUT = 90.0


@dataclass
class Deployment:
    """The sweeper behind Flower, and an HTTP client for Flower's API."""

    site: Site
    processes: ProcessGroup
    flower_url: str
    next_index: int = 0

    def deposit(self, amount: int) -> str:
        """A watched, activated deposit address holding ``amount`` USDT (index unique in the module)."""
        (address,) = self.site.deposits(1, start=self.next_index)
        self.next_index += 1
        self.site.devnet.chain.fund(address, 1 * TRX)
        self.site.devnet.chain.mint(address, amount)
        return address

    def apply(
        self, task: str, body: dict[str, Any], auth: tuple[str, str] | None = (USER, PASSWORD)
    ) -> httpx.Response:
        return httpx.post(f"{self.flower_url}/api/task/async-apply/{task}", json=body, auth=auth, timeout=30)

    def result(self, task_id: str) -> Any:
        """The task's return value, read back through Flower once the worker has finished it."""

        def finished() -> dict[str, Any] | None:
            response = httpx.get(
                f"{self.flower_url}/api/task/result/{task_id}", auth=(USER, PASSWORD), timeout=10
            )
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer if answer.get("state") in ("SUCCESS", "FAILURE") else None

        answer = wait_for(finished, 60, f"task {task_id} to finish")
        assert answer["state"] == "SUCCESS", (answer, self.processes.logs("w1")[-3000:])
        return answer["result"]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir: Path = tmp_path_factory.mktemp("flower")
    with flushed_redis(REDIS_DB) as broker, fast_devnet() as devnet:
        site = Site.create(devnet, workdir)
        group = ProcessGroup(env=site.env(broker, order="itrx,ea888fee,tronzap"), workdir=workdir)
        try:
            site.scan_from_head()
            group.worker("w1", concurrency=2)
            port = free_port()
            group.flower(port, f"{USER}:{PASSWORD}")
            # Workers send task events only once Flower asks (SWEEPER_TASK_EVENTS is off by default);
            # a task finished before that never reaches Flower's task list.
            wait_for(lambda: "enabled by remote" in group.logs("w1"), 60, "Flower to turn on task events")
            yield Deployment(site, group, f"http://127.0.0.1:{port}")
        finally:
            group.stop()
            site.close()


def test_sweep_address_applied_through_flower_sweeps_the_deposit(deployment: Deployment) -> None:
    site = deployment.site
    address = deployment.deposit(150 * USDT)
    hot_before = site.usdt(site.hot)

    response = deployment.apply("sweeper.sweep_address", {"kwargs": {"address": address}})
    assert response.status_code == 200, response.text
    result = deployment.result(response.json()["task-id"])

    assert result["ok"] is True and result["address"] == address and len(result["sweeps"]) == 1
    sweeps = site.settled([address], SETTLE_TIMEOUT)[address]
    assert [(s.id, s.state) for s in sweeps] == [(result["sweeps"][0], SweepState.CONFIRMED)]
    assert site.usdt(site.hot) - hot_before == 150 * USDT
    assert site.usdt(address) == 0


def test_scan_blocks_applied_through_flower_finds_and_sweeps_a_new_deposit(deployment: Deployment) -> None:
    site = deployment.site
    chain = site.devnet.chain
    address = deployment.deposit(75 * USDT)
    minted_by = chain.head_number() + 1  # the mint's Transfer log is mined in the next block
    wait_for(lambda: chain.head_number() >= minted_by + CONFIRMATIONS + 1, 30, "the deposit to be confirmed")

    response = deployment.apply("sweeper.scan_blocks", {})
    assert response.status_code == 200, response.text
    result = deployment.result(response.json()["task-id"])

    assert result["ok"] is True and result["hits"] >= 1, result
    sweeps = site.settled([address], SETTLE_TIMEOUT)[address]
    assert [s.state for s in sweeps] == [SweepState.CONFIRMED]
    assert site.usdt(address) == 0


def test_flower_refuses_a_request_without_the_right_credentials(deployment: Deployment) -> None:
    address = deployment.deposit(40 * USDT)

    anonymous = deployment.apply("sweeper.sweep_address", {"kwargs": {"address": address}}, auth=None)
    wrong = deployment.apply("sweeper.sweep_address", {"kwargs": {"address": address}}, auth=(USER, "guess"))

    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert deployment.site.sweeps_of(address) == []


def test_a_garbage_address_yields_a_failed_result_and_changes_nothing(deployment: Deployment) -> None:
    site = deployment.site
    sweeps_before = site.ledger.sweeps(limit=10_000)
    hot_before = site.usdt(site.hot)

    response = deployment.apply("sweeper.sweep_address", {"kwargs": {"address": "not-an-address"}})
    assert response.status_code == 200, response.text
    result = deployment.result(response.json()["task-id"])

    assert result["ok"] is False and result["reason"] == "invalid_address", result
    assert site.ledger.sweeps(limit=10_000) == sweeps_before
    assert site.usdt(site.hot) == hot_before


def test_a_task_that_fails_a_sweep_is_a_failure_in_flower_without_a_traceback(deployment: Deployment) -> None:
    """Before, the ``advance`` that moved a sweep to FAILED returned normally: Flower said SUCCESS and its
    Failed filter stayed empty. It now raises ``SweepFailed``, declared in the task's ``throws``."""
    site = deployment.site
    _, stranger = generate_key()  # watched, but its key is nowhere: the sweep fails before paying
    site.ledger.add_addresses([DepositAddress(stranger, f"external:{stranger}")])
    site.devnet.chain.fund(stranger, 1 * TRX)
    site.devnet.chain.mint(stranger, 30 * USDT)

    response = deployment.apply("sweeper.sweep_address", {"kwargs": {"address": stranger}})
    (sweep_id,) = deployment.result(response.json()["task-id"])["sweeps"]

    def failed_in_flower() -> dict[str, Any] | None:
        answer = httpx.get(
            f"{deployment.flower_url}/api/tasks",
            params={"state": "FAILURE", "taskname": "sweeper.advance"},
            auth=(USER, PASSWORD),
            timeout=10,
        )
        answer.raise_for_status()
        tasks: dict[str, dict[str, Any]] = answer.json()
        return next((t for t in tasks.values() if f"'sweep_id': {sweep_id}" in str(t.get("kwargs"))), None)

    task = wait_for(failed_in_flower, SETTLE_TIMEOUT, f"sweep {sweep_id}'s failure in Flower")

    assert site.ledger.get_sweep(sweep_id).state is SweepState.FAILED  # type: ignore[union-attr]
    assert "SweepFailed" in task["exception"] and "unknown_key" in task["exception"], task
    assert "Traceback" not in deployment.processes.logs("w1")


def test_flower_lists_the_workers_tasks_though_workers_start_without_task_events(
    deployment: Deployment,
) -> None:
    # Workers start with events off (SWEEPER_TASK_EVENTS=false): Flower turns them on when it connects.
    address = deployment.deposit(20 * USDT)

    def listed() -> bool | None:
        response = deployment.apply("sweeper.sweep_address", {"kwargs": {"address": address}})
        task_id = response.json()["task-id"]
        deployment.result(task_id)
        tasks = httpx.get(
            f"{deployment.flower_url}/api/tasks", auth=(USER, PASSWORD), params={"limit": 1000}, timeout=10
        ).json()
        return task_id in tasks or None

    wait_for(listed, 60, "Flower to list a task from the worker's own events")


@pytest.mark.parametrize(
    "task", ["sweeper.advance", "sweeper.reconcile", "celery.backend_cleanup", "celery.ping"]
)
def test_only_the_operator_tasks_can_be_applied_through_flower(deployment: Deployment, task: str) -> None:
    for path in ("async-apply", "apply"):
        response = httpx.post(
            f"{deployment.flower_url}/api/task/{path}/{task}", json={}, auth=(USER, PASSWORD), timeout=30
        )
        assert response.status_code == 403, (path, task, response.text)


def test_worker_control_commands_are_disabled_and_the_worker_keeps_running(deployment: Deployment) -> None:
    url = f"{deployment.flower_url}/api/workers?refresh=1"
    (worker,) = httpx.get(url, auth=(USER, PASSWORD), timeout=30).json()  # the real worker's name
    for path in CONTROL:
        url = deployment.flower_url + path.format(worker=worker)
        response = httpx.post(
            url, data={"rate": "1/h", "soft": "1", "n": "1"}, auth=(USER, PASSWORD), timeout=30
        )
        assert response.status_code == 403, (path, response.text)
    assert deployment.processes.children["w1"].poll() is None
    test_sweep_address_applied_through_flower_sweeps_the_deposit(deployment)  # still served, at full rate
