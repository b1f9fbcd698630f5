"""Every operator error path of the ``sweeper`` command prints one line (problem and fix), never a
traceback, and exits non-zero; commands run without the settings they do not use.

Each case is the installed command in a process of its own, as an operator runs it; they run at once.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from devnet.crypto import generate_key
from sweeper.keys import MnemonicKeyring
from sweeper.ledger import DepositAddress, Ledger, create_engine_for, upgrade
from tasks.devnet_profile import DEVNET_MNEMONIC
from tasks.processes import free_port
from tests.e2e.helpers import flushed_redis

pytestmark = pytest.mark.integration

QUEUE_DB = 5  # this module's own Redis database


@dataclass
class World:
    workdir: Path
    env: dict[str, str]
    watched: str
    hot: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A migrated ledger watching one address; the node and the broker are ports nobody listens on."""
    workdir = tmp_path_factory.mktemp("cli-errors")
    url = f"sqlite:///{workdir / 'ledger.sqlite3'}"
    upgrade(url)
    watched = MnemonicKeyring(DEVNET_MNEMONIC).derive(0)
    ledger = Ledger(create_engine_for(url))
    ledger.add_addresses([DepositAddress(watched, "mnemonic:0")])
    ledger.engine.dispose()
    mnemonic = workdir / "mnemonic.txt"
    mnemonic.write_text(DEVNET_MNEMONIC)
    _, hot = generate_key()
    env = {
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "80",
        "SWEEPER_DATABASE_URL": url,
        "SWEEPER_TRON__NODE_URL": f"http://127.0.0.1:{free_port()}/",
        "SWEEPER_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SWEEPER_DESTINATION": hot,
        "SWEEPER_ENERGY__ORDER": "",  # no source: nothing here is about energy
        "SWEEPER_KEYS__MNEMONIC_FILE": str(mnemonic),
    }
    yield World(workdir, env, watched, hot)


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    env: dict[str, str | None]
    says: str
    code: int = 1


def cases(world: World) -> dict[str, Case]:
    _, stranger = generate_key()
    closed_db = f"postgresql+psycopg://sweeper@127.0.0.1:{free_port()}/sweeper"
    return {
        "empty tokens": Case(("config", "check"), {"SWEEPER_TOKENS": ""}, "SWEEPER_TOKENS is empty", 2),
        "bad JSON tokens": Case(("config", "check"), {"SWEEPER_TOKENS": "[{"}, "not valid JSON", 2),
        "log level": Case(("config", "check"), {"SWEEPER_LOG_LEVEL": "verbose"}, "not a log level", 2),
        "broker down (sweep)": Case(("sweep", world.watched), {}, "broker unavailable"),
        "broker down (scan)": Case(("scan",), {}, "broker unavailable"),
        "node down (sweep --local)": Case(("sweep", "--local", world.watched), {}, "TRON node unavailable"),
        "node down (scan --local)": Case(("scan", "--local"), {}, "TRON node unavailable"),
        "database down (status)": Case(
            ("status",), {"SWEEPER_DATABASE_URL": closed_db}, "cannot open the ledger"
        ),
        "unwatched address": Case(("sweep", stranger), {}, "is not a watched deposit address", 2),
        "unknown sweep": Case(("retry", "999"), {}, "no sweep 999"),
        "no mnemonic": Case(
            ("addresses", "derive", "-n", "1"),
            {"SWEEPER_KEYS__MNEMONIC_FILE": None},
            "no mnemonic configured",
            2,
        ),
        "bad destination": Case(
            ("config", "check"), {"SWEEPER_DESTINATION": "Tnope"}, "SWEEPER_DESTINATION", 2
        ),
        "unknown option": Case(("status", "--bogus"), {}, "No such option: --bogus", 2),
        "bad option value": Case(
            ("energy", "quotes", "--address", world.watched, "--energy", "-5"), {}, "'--energy'", 2
        ),
    }


def start(world: World, argv: tuple[str, ...], changes: dict[str, str | None]) -> subprocess.Popen[str]:
    env = {**world.env, **changes}
    return subprocess.Popen(
        [sys.executable, "-m", "tasks.cli", *argv],
        env={k: v for k, v in env.items() if v is not None},
        cwd=world.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_every_error_path_prints_one_line_and_no_traceback(world: World) -> None:
    table = cases(world)
    running = {name: start(world, case.argv, case.env) for name, case in table.items()}
    failures = []
    for name, process in running.items():
        out, err = process.communicate(timeout=180)
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
        case = table[name]
        if (
            "Traceback" in out + err
            or len(lines) != 1
            or not lines[0].startswith("error:")
            or case.says not in lines[0]
            or process.returncode != case.code
        ):
            failures.append((name, process.returncode, err[-2000:]))
    assert not failures, failures


def test_debug_shows_the_traceback(world: World) -> None:
    process = start(world, ("--debug", "scan"), {})
    _, err = process.communicate(timeout=180)

    assert process.returncode != 0 and "Traceback" in err


def test_commands_need_only_the_settings_they_use(world: World) -> None:
    """No hot wallet and no provider secret for ``addresses``; a misspelled name gets a hint."""
    no_wallet = {
        "SWEEPER_DESTINATION": None,
        "SWEEPER_ENERGY__ORDER": "itrx,ea888fee",
        "SWEEPER_DESTINATON": "x",
    }
    listing = start(world, ("addresses", "list", "--json"), no_wallet)
    out, err = listing.communicate(timeout=180)

    assert listing.returncode == 0, err
    assert world.watched in out
    assert (
        "warning: SWEEPER_DESTINATON is not a setting and is ignored; did you mean SWEEPER_DESTINATION?"
        in err
    )


def test_queueing_a_sweep_needs_only_the_broker_and_the_ledger(world: World) -> None:
    """``sweep ADDRESS`` only queues a task: no hot wallet, no provider secret needed on that machine."""
    with flushed_redis(QUEUE_DB) as broker:
        queued = start(
            world,
            ("sweep", world.watched),
            {"SWEEPER_BROKER_URL": broker, "SWEEPER_DESTINATION": None, "SWEEPER_ENERGY__ORDER": "itrx"},
        )
        out, err = queued.communicate(timeout=180)
        waiting = redis.Redis.from_url(broker).llen("sweep")

    assert queued.returncode == 0, err
    assert f"queued sweeper.sweep_address for {world.watched}" in out and waiting == 1


def test_env_example_as_shipped_has_only_values_to_fill_in(world: World, tmp_path: Path) -> None:
    """Every value of .env.example parses; what is left is the hot wallet and the placeholders."""
    example = Path(__file__).parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    bare = {"PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    check = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "config", "check"],
        env={**bare, "SWEEPER_DESTINATION": world.hot},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    unset = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "config", "check"],
        env=bare,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    problems = [line for line in check.stderr.splitlines() if line.startswith("error:")]
    assert check.returncode == 2 and problems, check.stderr
    assert all("placeholder" in line or "MNEMONIC_FILE" in line for line in problems), problems
    assert "warning: " not in check.stderr.replace("warning: no bandwidth source", "")  # no unknown names
    assert [line for line in unset.stderr.splitlines() if line.startswith("error:")] == [
        "error: invalid configuration: no destination for USDT (TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t): "
        "set SWEEPER_DESTINATION (the hot wallet)"
    ]
