"""Chaos, bad input: every hostile input gets a clear refusal, and nothing is lost or half-done.

One deployment for the module: the devnet, a Celery worker, a real Flower process (the operator's way to
apply tasks by hand) and the callback receiver. Garbage goes in through the same doors an operator or an
attacker would use: Flower's REST API, the receiver's HTTP port, the ``sweeper`` command line and the
environment a process starts with. After each one the ledger and the chain are compared with before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from sqlalchemy import select

from config.celery import celery_settings
from devnet.crypto import generate_key
from sweeper.keys import MnemonicKeyring
from sweeper.ledger.tables import Base
from sweeper.models import USDT_MAINNET, SweepState
from tasks.devnet_profile import DEVNET_MNEMONIC
from tasks.flower import OPERATOR_TASKS
from tasks.processes import ProcessGroup, free_port
from tests.chaos.invariants import check_invariants
from tests.e2e.helpers import TRX, USDT, Site, fast_devnet, flushed_redis, wait_for

pytestmark = pytest.mark.chaos

REDIS_DB = 14  # this module's own broker and result database
USER, PASSWORD = "operator", "chaos-input-password"
SETTLE_TIMEOUT = 90.0
LEDGER_TABLES = (
    "deposit_addresses",
    "sweeps",
    "sweep_history",
    "energy_orders",
    "chain_transactions",
    "callback_events",
    "tx_journal",
    "scanner_cursor",
)
HUGE = 2**63  # one more than a BIGINT holds: refused before amounts became uint256


@dataclass
class Deployment:
    """The sweeper behind Flower and the receiver; ``plan`` is every deposit swept so far."""

    site: Site
    processes: ProcessGroup
    flower_url: str
    receiver_url: str
    env: dict[str, str]
    plan: dict[str, int] = field(default_factory=dict)
    untouched: dict[str, int] = field(default_factory=dict)
    next_index: int = 0

    def fresh_index(self) -> int:
        self.next_index += 1
        return self.next_index - 1

    def apply(self, task: str, body: Any) -> httpx.Response:
        """POST to Flower's async-apply; a ``str`` body is sent as it is (JSON that httpx won't write)."""
        url = f"{self.flower_url}/api/task/async-apply/{task}"
        if isinstance(body, str):
            headers = {"Content-Type": "application/json"}
            return httpx.post(url, content=body, headers=headers, auth=(USER, PASSWORD), timeout=30)
        return httpx.post(url, json=body, auth=(USER, PASSWORD), timeout=30)

    def send(self, task: str, body: Any) -> str:
        """Apply an operator task through Flower; Flower refuses any other (403), so that one is sent
        over the broker, as anything with broker access could: the worker's own checks are under test."""
        response = self.apply(task, body)
        if task in OPERATOR_TASKS:
            assert response.status_code == 200, (task, body, response.text)
            return str(response.json()["task-id"])
        assert response.status_code == 403, (task, body, response.text)
        payload = json.loads(body) if isinstance(body, str) else body
        client = Celery("chaos-input-client")
        client.conf.update(celery_settings(self.env["SWEEPER_BROKER_URL"], None))
        return str(client.send_task(task, args=payload.get("args"), kwargs=payload.get("kwargs")).id)

    def result(self, task_id: str) -> dict[str, Any]:
        """The task's outcome as Flower reports it, once the worker has finished it."""

        def finished() -> dict[str, Any] | None:
            response = httpx.get(
                f"{self.flower_url}/api/task/result/{task_id}", auth=(USER, PASSWORD), timeout=10
            )
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer if answer.get("state") in ("SUCCESS", "FAILURE") else None

        answer: dict[str, Any] = wait_for(finished, 60, f"task {task_id} to finish")
        return answer

    def run(self, task: str, body: Any) -> dict[str, Any]:
        """Apply ``task`` (``send``) and return its JSON result (the task must not crash)."""
        answer = self.result(self.send(task, body))
        assert answer["state"] == "SUCCESS", (task, body, answer)
        result: dict[str, Any] = answer["result"]
        return result

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every ledger row, table by table, for before/after comparison."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.site.ledger.engine.connect() as conn:
            for name in LEDGER_TABLES:
                table = Base.metadata.tables[name]
                rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings().all()
                out[name] = [dict(row) for row in rows]
        return out

    def sweep_by_hand(self, address: str, amount: int) -> None:
        """Apply sweep_address through Flower and wait for its one sweep to be CONFIRMED."""
        result = self.run("sweeper.sweep_address", {"kwargs": {"address": address}})
        assert result["ok"] is True and len(result["sweeps"]) == 1, result
        found = self.site.settled([address], SETTLE_TIMEOUT)[address]
        assert [s.state for s in found] == [SweepState.CONFIRMED], found
        self.plan[address] = amount

    def cli(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sweeper …`` as the operator would, in a process of its own."""
        return subprocess.run(
            [sys.executable, "-m", "tasks.cli", *argv],
            env={**_clean_environ(), **(env if env is not None else self.env)},
            cwd=self.site.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def check(self) -> None:
        check_invariants(
            self.site.devnet, self.site.ledger, self.plan, self.site.hot, untouched=self.untouched
        )


def _clean_environ() -> dict[str, str]:
    """This environment without SWEEPER_* variables (each test states exactly what it sets)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWEEPER_")}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir: Path = tmp_path_factory.mktemp("chaos-input")
    with flushed_redis(REDIS_DB) as broker, fast_devnet() as devnet:
        site = Site.create(devnet, workdir)
        port = free_port()
        receiver = f"http://127.0.0.1:{port}"
        env = site.env(broker, order="itrx,ea888fee,tronzap", callback_public_url=receiver)
        group = ProcessGroup(env=env, workdir=workdir)
        try:
            site.scan_from_head()
            group.worker("w1", concurrency=2)
            group.web(port)
            flower_port = free_port()
            group.flower(flower_port, f"{USER}:{PASSWORD}")
            yield Deployment(site, group, f"http://127.0.0.1:{flower_port}", receiver, env)
        finally:
            group.stop()
            site.close()


def watched_deposit(deployment: Deployment, amount: int) -> str:
    """A watched, activated deposit address (its own mnemonic index) holding ``amount`` USDT units."""
    (address,) = deployment.site.deposits(1, start=deployment.fresh_index())
    chain = deployment.site.devnet.chain
    chain.fund(address, 1 * TRX)
    chain.mint(address, amount)
    return address


# -- garbage arguments through Flower -----------------------------------------------------------------


def test_garbage_task_arguments_from_flower_are_refused_with_a_clear_reason_and_change_nothing(
    deployment: Deployment,
) -> None:
    site = deployment.site
    swept = watched_deposit(deployment, 90 * USDT)
    deployment.sweep_by_hand(swept, 90 * USDT)
    (done,) = site.sweeps_of(swept)
    _, attacker = generate_key()
    unwatched = generate_key()[1]
    bad_checksum = swept[:-1] + ("1" if swept[-1] != "1" else "2")
    before = deployment.rows()
    hot_before = site.usdt(site.hot)

    refused: list[tuple[str, Any, str]] = [
        ("sweeper.advance", {"kwargs": {"sweep_id": "abc"}}, "bad_argument"),
        ("sweeper.advance", {"args": ["1; DROP TABLE sweeps; --"]}, "bad_argument"),
        ("sweeper.advance", {"args": ["00001"]}, "bad_argument"),
        ("sweeper.advance", {"args": [[1, 2]]}, "bad_argument"),
        ("sweeper.advance", {"args": [{"id": {"nested": [done.id]}}]}, "bad_argument"),
        ("sweeper.advance", {"args": [10**30]}, "bad_argument"),
        ("sweeper.advance", {"args": [2**63]}, "bad_argument"),  # ids are BIGINT
        ("sweeper.advance", '{"args": [Infinity]}', "bad_argument"),  # Python's JSON reads it
        ("sweeper.advance", {"args": [-5]}, "bad_argument"),
        ("sweeper.advance", {"args": [0]}, "bad_argument"),
        ("sweeper.advance", {"args": [1.5]}, "bad_argument"),
        ("sweeper.advance", {"args": [True]}, "bad_argument"),
        ("sweeper.advance", {"args": [None]}, "bad_argument"),
        ("sweeper.advance", {}, "bad_argument"),  # missing
        ("sweeper.advance", {"args": [done.id, "token", "surplus"]}, "bad_argument"),
        ("sweeper.advance", {"kwargs": {"sweep_id": 2**62}}, "unknown_sweep"),
        ("sweeper.sweep_address", {"kwargs": {"address": [swept]}}, "invalid_address"),
        ("sweeper.sweep_address", {"kwargs": {"address": {"$ne": None}}}, "invalid_address"),
        ("sweeper.sweep_address", {"kwargs": {"address": "' OR '1'='1"}}, "invalid_address"),
        ("sweeper.sweep_address", {"kwargs": {"address": bad_checksum}}, "invalid_address"),
        ("sweeper.sweep_address", {"kwargs": {"address": 10**30}}, "invalid_address"),
        ("sweeper.sweep_address", {"kwargs": {"address": "x" * 100_000}}, "invalid_address"),
        ("sweeper.sweep_address", {"kwargs": {"address": unwatched}}, "not_watched"),
        ("sweeper.sweep_address", {}, "bad_argument"),
        ("sweeper.sweep_address", {"args": [swept, attacker]}, "bad_argument"),
        ("sweeper.retry", {"args": ["x"]}, "bad_argument"),
        ("sweeper.retry", {"args": [10**20]}, "bad_argument"),
        ("sweeper.retry", {"args": [done.id]}, "not_failed"),
        ("sweeper.reconcile", {"kwargs": {"limit": "abc"}}, "bad_argument"),
        ("sweeper.reconcile", {"kwargs": {"limit": [1]}}, "bad_argument"),
        ("sweeper.reconcile", {"args": [1, 2]}, "bad_argument"),
        ("sweeper.scan_blocks", {"args": [1]}, "bad_argument"),
        ("sweeper.rescan_balances", {"args": ["everything"]}, "bad_argument"),
    ]
    task_ids = [deployment.send(task, body) for task, body, _ in refused]
    # Extra keyword arguments are tolerated (rolling deploys) but cannot steer anything.
    steer = [
        ("sweeper.advance", {"kwargs": {"sweep_id": done.id, "destination": attacker, "state": "SIGNED"}}),
        ("sweeper.sweep_address", {"kwargs": {"address": swept, "destination": attacker, "amount": -1}}),
    ]
    steered = [deployment.send(task, body) for task, body in steer]
    flower_refusals = {
        "args not a list": deployment.apply("sweeper.sweep_address", {"args": "1"}).status_code,
        "body not an object": deployment.apply("sweeper.sweep_address", [1]).status_code,
        "unknown task": deployment.apply("sweeper.transfer_everything", {"args": [attacker]}).status_code,
        "internal task": deployment.apply("celery.backend_cleanup", {}).status_code,
    }

    wrong = {}
    for (task, body, reason), task_id in zip(refused, task_ids, strict=True):
        answer = deployment.result(task_id)
        result = answer.get("result")
        if not (
            answer["state"] == "SUCCESS"
            and isinstance(result, dict)
            and result.get("ok") is False
            and result.get("reason") == reason
            and result.get("error")
        ):
            wrong[f"{task} {str(body)[:80]}"] = (answer["state"], str(result)[:200])
    assert not wrong, wrong
    advanced, rechecked = (deployment.result(t)["result"] for t in steered)
    assert advanced == {"ok": True, "sweep_id": done.id, "state": "CONFIRMED", "retry_in": None}
    assert rechecked == {"ok": True, "address": swept, "sweeps": []}  # nothing left there to sweep
    assert flower_refusals == {
        "args not a list": 400,
        "body not an object": 400,
        "unknown task": 403,  # only the operator tasks can be applied through Flower (tasks/flower.py)
        "internal task": 403,
    }

    assert deployment.rows() == before
    assert site.usdt(site.hot) == hot_before
    assert site.usdt(attacker) == 0
    deployment.check()


# -- oversized callback bodies ---------------------------------------------------------------------------


def test_oversized_callback_bodies_are_refused_before_they_are_read(deployment: Deployment) -> None:
    before = deployment.rows()
    url = f"{deployment.receiver_url}/callbacks/itrx"
    huge = b'{"serial":"' + b"A" * (1 << 20) + b'"}'

    declared = httpx.post(url, content=huge, headers={"TIMESTAMP": "1", "SIGNATURE": "00"}, timeout=30)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the receiver must count as it reads
        for _ in range(64):
            yield b"B" * 4096

    streamed = httpx.post(url, content=chunks(), headers={"TIMESTAMP": "1", "SIGNATURE": "00"}, timeout=30)

    for response in (declared, streamed):
        assert response.status_code == 413 and response.json()["error"] == "too_large", response.text
    assert httpx.get(f"{deployment.receiver_url}/healthz", timeout=10).json() == {"ok": True, "db": "ok"}
    assert deployment.rows() == before
    deployment.check()


# -- address imports -------------------------------------------------------------------------------------


def test_an_address_csv_with_bad_or_duplicate_rows_imports_nothing_and_the_corrected_one_imports_all(
    deployment: Deployment, tmp_path: Path
) -> None:
    site = deployment.site
    ring = MnemonicKeyring(DEVNET_MNEMONIC)
    first, second = deployment.fresh_index(), deployment.fresh_index()
    good = [(ring.derive(first), first), (ring.derive(second), second)]
    valid = good[0][0]
    key_lookalike = "9f" * 32  # a private key pasted where a key reference goes
    hostile = "\n".join(
        [
            "address,label,key_ref",
            f"{good[0][0]},alice,mnemonic:{good[0][1]}",  # line 2
            f"{valid[:-1]}{'2' if valid[-1] != '2' else '3'},bad checksum,",  # line 3
            f"41{'ab' * 20},hex form,",  # line 4
            "'; DROP TABLE deposit_addresses; --,sql,",  # line 5
            f"\u0422{valid[1:]},cyrillic T,",  # line 6
            ",no address,",  # line 7
            f"{good[0][0]},alice again,mnemonic:{good[0][1]}",  # line 8: duplicate of line 2
            f"{good[1][0]},bob,{key_lookalike}",  # line 9
            f"{good[1][0]},bob,mnemonic:{good[1][1]},extra",  # line 10
        ]
    )
    path = tmp_path / "hostile.csv"
    path.write_text(hostile + "\n", encoding="utf-8")
    count_before = site.ledger.address_count()

    refused = deployment.cli("addresses", "import", str(path))

    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    report = refused.stderr
    assert "nothing imported" in report and "Traceback" not in report
    for line in (3, 4, 5, 6, 7, 8, 9, 10):
        assert f"line {line}:" in report, (line, report)
    assert "line 2:" not in report
    assert "duplicate of line 2" in report
    assert key_lookalike not in refused.stdout + report  # never echoed back
    assert site.ledger.address_count() == count_before

    clean = tmp_path / "clean.csv"
    clean.write_text("".join(f"{a},user,mnemonic:{i}\n" for a, i in good), encoding="utf-8")
    imported = deployment.cli("addresses", "import", str(clean))
    assert imported.returncode == 0, imported.stderr
    assert site.ledger.address_count() == count_before + 2
    # Nothing lost: a deposit on an imported address is swept like any other.
    chain = site.devnet.chain
    chain.fund(good[1][0], 1 * TRX)
    chain.mint(good[1][0], 33 * USDT)
    deployment.sweep_by_hand(good[1][0], 33 * USDT)
    deployment.check()


# -- amounts ---------------------------------------------------------------------------------------------


def test_a_balance_beyond_what_a_bigint_holds_is_swept_exactly_and_the_rescan_goes_on(
    deployment: Deployment,
) -> None:
    """Amounts are uint256 end to end: what a BIGINT ledger once refused is now one exact sweep."""
    site = deployment.site
    whale = watched_deposit(deployment, HUGE)
    normal = watched_deposit(deployment, 27 * USDT)

    started = deployment.run("sweeper.sweep_address", {"kwargs": {"address": whale}})
    assert started["ok"] is True and len(started["sweeps"]) == 1, started
    rescan = deployment.run("sweeper.rescan_balances", {})
    assert rescan["ok"] is True and rescan["refused"] == 0, rescan
    found = site.settled([whale, normal], SETTLE_TIMEOUT)
    assert [(s.state, s.amount) for s in found[whale]] == [(SweepState.CONFIRMED, HUGE)]
    assert [s.state for s in found[normal]] == [SweepState.CONFIRMED]
    deployment.plan[whale] = HUGE
    deployment.plan[normal] = 27 * USDT
    deployment.check()


def test_negative_or_zero_energy_on_the_command_line_is_refused_before_any_provider_is_asked(
    deployment: Deployment,
) -> None:
    (address,) = deployment.site.deposits(1, start=deployment.fresh_index())
    for energy in ("-65000", "0"):
        result = deployment.cli("energy", "quotes", "--address", address, "--energy", energy)
        assert result.returncode == 2, (energy, result.stdout, result.stderr)
        assert "--energy" in result.stderr and "Traceback" not in result.stderr
    deployment.check()


# -- configuration ---------------------------------------------------------------------------------------


def test_invalid_configuration_stops_every_process_at_start_with_one_line_per_problem(
    deployment: Deployment,
) -> None:
    secret = "chaos-input-itrx-secret-4f1d"
    bad = {
        **deployment.env,
        "SWEEPER_DESTINATION": deployment.site.hot[:-1] + ("1" if deployment.site.hot[-1] != "1" else "2"),
        "SWEEPER_ENERGY__ORDER": "itrx,tronzap,moonpay",
        "SWEEPER_ENERGY__ITRX__API_SECRET": secret,
        "SWEEPER_ENERGY__MAX_SUN_PER_SWEEP": "-1",
        "SWEEPER_CONFIRMATIONS": "-3",
        "SWEEPER_TRON__NODE_URL": "not a url",
        "SWEEPER_TOKENS": f'[{{"symbol":"USDT","contract":"{USDT_MAINNET}","decimals":6,"min_amount":-5}}]',
    }
    expected = [
        "SWEEPER_DESTINATION",
        "SWEEPER_ENERGY__ORDER",
        "SWEEPER_ENERGY__MAX_SUN_PER_SWEEP",
        "SWEEPER_CONFIRMATIONS",
        "SWEEPER_TRON__NODE_URL",
        "SWEEPER_TOKENS__MIN_AMOUNT",
    ]
    env = {**_clean_environ(), **bad, "PYTHONUNBUFFERED": "1"}
    port = free_port()
    starts = {
        "config check": [sys.executable, "-m", "tasks.cli", "config", "check"],
        "worker": [sys.executable, "-m", "celery", "-A", "tasks.app", "worker", "-c", "1", "-l", "INFO"],
        "beat": [sys.executable, "-m", "celery", "-A", "tasks.app", "beat", "-l", "INFO"],
        "receiver": [sys.executable, "-m", "uvicorn", "tasks.web:app", "--port", str(port)],
    }
    procs = {
        name: subprocess.Popen(
            argv,
            env=env,
            cwd=deployment.site.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for name, argv in starts.items()
    }
    outputs: dict[str, tuple[int, str]] = {}
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=60)
            outputs[name] = (proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()

    for name, (code, out) in outputs.items():
        assert code != 0, (name, out)
        missing = [variable for variable in expected if variable not in out]
        assert not missing, (name, missing, out)
        assert secret not in out, name
        assert "Traceback" not in out, (name, out)

    # Checks across settings run once each setting is valid on its own: they list every problem too.
    crossed = {**deployment.env, "SWEEPER_DESTINATION": "", "SWEEPER_ENERGY__TRONZAP__API_TOKEN": ""}
    check = deployment.cli("config", "check", env=crossed)
    said = " ".join(check.stderr.split())  # rich wraps long lines to the terminal's width
    assert check.returncode == 2 and "Traceback" not in said, said
    assert "no destination for USDT" in said
    assert "SWEEPER_ENERGY__TRONZAP__API_TOKEN is not set" in said
    deployment.check()
