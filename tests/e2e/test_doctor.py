"""``sweeper doctor`` on a live stack (devnet, Redis, a real worker and beat): healthy says so, and each
broken piece is named. One deployment for the module; each broken piece is a changed setting."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import Settings, load_settings
from devnet.crypto import generate_key
from sweeper.ledger import DepositAddress, Ledger, create_engine_for, upgrade
from tasks.doctor import Check, Verdict, run_checks
from tasks.processes import ProcessGroup, free_port
from tests.e2e.helpers import Site, fast_devnet, flushed_redis, wait_for

pytestmark = pytest.mark.e2e

REDIS_DB = 12  # this suite's own broker database


@dataclass
class Stack:
    site: Site
    env: dict[str, str]
    processes: ProcessGroup


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("doctor")
    with flushed_redis(REDIS_DB) as broker, fast_devnet() as devnet:
        site = Site.create(devnet, workdir)
        env = site.env(broker, order="itrx,ea888fee,tronzap")
        group = ProcessGroup(env=env, workdir=workdir)
        try:
            site.deposits(2)
            site.scan_from_head()
            group.worker("w1", concurrency=1)
            group.beat()
            cursor = site.ledger.get_cursor("blocks")
            wait_for(lambda: site.ledger.get_cursor("blocks") != cursor, 60, "beat's first scan")
            yield Stack(site, env, group)
        finally:
            group.stop()
            site.close()


def settings_with(stack: Stack, monkeypatch: pytest.MonkeyPatch, **changes: str) -> Settings:
    monkeypatch.chdir(stack.site.workdir)
    for name, value in {**stack.env, **changes}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def found(checks: list[Check]) -> set[tuple[str, str]]:
    return {(c.area, c.item) for c in checks if c.verdict is Verdict.PROBLEM}


def test_a_healthy_stack_is_healthy_with_exit_status_zero(stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "doctor", "--json"],
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        cwd=stack.site.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["healthy"] is True, report
    verdicts = {(c["area"], c["item"]): c["verdict"] for c in report["checks"]}
    for line in [
        ("node", "reachable"),
        ("broker", "reachable"),
        ("database", "migrations"),
        ("keys", "can sign"),
        ("workers", "alive"),
        ("beat", "alive"),
        ("provider itrx", "credentials"),
    ]:
        assert verdicts[line] == "ok", (line, report)
    assert "Traceback" not in result.stderr


def test_logs_of_worker_and_beat_are_one_json_object_per_line(stack: Stack) -> None:
    for name in ("w1", "beat"):
        lines = [line for line in stack.processes.logs(name).splitlines() if line.strip()]
        assert lines, name
        records = [json.loads(line) for line in lines]  # every line, Celery's own included
        assert all(r["level"] in ("info", "warning", "error") for r in records), name  # quiet: no debug
        done = [r for r in records if r.get("event") == "task.done"]
        assert not [r for r in done if r["task"] == "sweeper.scan_blocks" and r["result"]["hits"] == 0]
        assert not [r for r in records if "Sending due task" in r["event"]]  # beat's tick is DEBUG


def test_a_node_that_is_down_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = run_checks(
        settings_with(stack, monkeypatch, SWEEPER_TRON__NODE_URL=f"http://127.0.0.1:{free_port()}/")
    )

    assert ("node", "reachable") in found(checks)
    assert ("broker", "reachable") not in found(checks)


def test_a_broker_that_is_down_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = run_checks(
        settings_with(stack, monkeypatch, SWEEPER_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    )

    assert found(checks) == {("broker", "reachable")}  # workers are then "skipped", not blamed


def test_a_database_that_is_down_or_behind_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    down = run_checks(
        settings_with(
            stack, monkeypatch, SWEEPER_DATABASE_URL=f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x"
        )
    )
    empty = stack.site.workdir / "never-migrated.sqlite3"
    behind = run_checks(settings_with(stack, monkeypatch, SWEEPER_DATABASE_URL=f"sqlite:///{empty}"))

    assert ("database", "reachable") in found(down)
    assert ("database", "migrations") in found(behind)


def test_a_provider_with_bad_credentials_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = run_checks(
        settings_with(stack, monkeypatch, SWEEPER_ENERGY__TRONZAP__API_SECRET="not-the-secret")
    )

    assert found(checks) == {("provider tronzap", "credentials")}


def test_a_callback_url_nobody_answers_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    checks = run_checks(settings_with(stack, monkeypatch, SWEEPER_CALLBACK_PUBLIC_URL=url))

    assert found(checks) == {("callback", "public URL")}


def test_a_watched_address_without_a_key_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    path = stack.site.workdir / "keyless.sqlite3"
    upgrade(f"sqlite:///{path}")
    ledger = Ledger(create_engine_for(f"sqlite:///{path}"))
    _, stranger = generate_key()
    ledger.add_addresses([DepositAddress(stranger, f"external:{stranger}")])
    ledger.engine.dispose()

    checks = run_checks(settings_with(stack, monkeypatch, SWEEPER_DATABASE_URL=f"sqlite:///{path}"))

    keys = [c for c in checks if (c.area, c.item) == ("keys", "watched addresses")]
    assert keys and keys[0].verdict is Verdict.PROBLEM and stranger in keys[0].detail
