"""Start-up refusals as real processes: a worker, the receiver and ``config check`` refuse, one line each.

A worker that started anyway would buy energy for every deposit and then fail it: with the mnemonic file
of ``.env.example`` missing (compose mounts none), with no key source while addresses are watched, or with
a secret still reading ``change-me``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sweeper.ledger import DepositAddress, Ledger, create_engine_for, upgrade
from tasks.devnet_profile import DEVNET_MNEMONIC
from tasks.processes import free_port
from tests.fixtures.db import HOT_WALLET, tron_address
from tests.fixtures.services import REDIS_PORT

pytestmark = pytest.mark.e2e

REDIS_DB = 8


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SWEEPER_")}


def start_all(env: dict[str, str], workdir: Path) -> dict[str, tuple[int, str]]:
    """Start a worker, the receiver and `config check` with ``env``; each one's exit code and output."""
    argv = {
        "worker": [sys.executable, "-m", "celery", "-A", "tasks.app", "worker", "-c", "1", "-l", "INFO"],
        "receiver": [sys.executable, "-m", "uvicorn", "tasks.web:app", "--port", str(free_port())],
        "config check": [sys.executable, "-m", "tasks.cli", "config", "check"],
    }
    procs = {
        name: subprocess.Popen(
            command,
            env={**clean_environ(), **env, "PYTHONUNBUFFERED": "1", "COLUMNS": "80"},
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for name, command in argv.items()
    }
    found: dict[str, tuple[int, str]] = {}
    try:
        for name, proc in procs.items():
            try:
                out, _ = proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
                found[name] = (-1, f"still running after 90 s (it started):\n{out}")
                continue
            found[name] = (proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return found


def base_env(tmp_path: Path, *watched: DepositAddress) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    upgrade(url)
    if watched:
        ledger = Ledger(create_engine_for(url))
        try:
            ledger.add_addresses(watched)
        finally:
            ledger.engine.dispose()
    return {
        "SWEEPER_DATABASE_URL": url,
        "SWEEPER_BROKER_URL": f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}",
        "SWEEPER_DESTINATION": HOT_WALLET,
        "SWEEPER_ENERGY__ORDER": "",
        "SWEEPER_LOG_FORMAT": "json",
    }


def missing_mnemonic(tmp_path: Path) -> tuple[dict[str, str], str]:
    path = tmp_path / "run" / "secrets" / "sweeper-mnemonic"  # .env.example's value; nothing mounted
    env = {**base_env(tmp_path), "SWEEPER_KEYS__MNEMONIC_FILE": str(path)}
    return env, f"SWEEPER_KEYS__MNEMONIC_FILE: cannot read {path} (No such file or directory)"


def no_keys_but_watched(tmp_path: Path) -> tuple[dict[str, str], str]:
    address = tron_address("csv-row-without-key")
    env = base_env(tmp_path, DepositAddress(address, f"external:{address}"))
    return env, "1 addresses are watched but no key is configured"


def placeholder_secret(tmp_path: Path) -> tuple[dict[str, str], str]:
    phrase = tmp_path / "mnemonic.txt"
    phrase.write_text(DEVNET_MNEMONIC)
    env = {
        **base_env(tmp_path),
        "SWEEPER_KEYS__MNEMONIC_FILE": str(phrase),
        "SWEEPER_ENERGY__ITRX__API_SECRET": "change-me",
    }
    return env, "SWEEPER_ENERGY__ITRX__API_SECRET is still the placeholder from .env.example"


@pytest.mark.parametrize("scenario", [missing_mnemonic, no_keys_but_watched, placeholder_secret])
def test_a_worker_the_receiver_and_config_check_refuse_to_start_with_one_clear_line(
    scenario: Callable[[Path], tuple[dict[str, str], str]], tmp_path: Path
) -> None:
    env, line = scenario(tmp_path)

    outcomes = start_all(env, tmp_path)

    for name, (code, out) in outcomes.items():
        assert code not in (0, -1), (name, code, out)
        assert "Traceback" not in out, (name, out)
        said = [text for text in out.splitlines() if line in text]
        assert said, (name, out)  # the whole problem on one line, not wrapped
        assert "change-me" not in out.replace("from .env.example", ""), (name, out)
