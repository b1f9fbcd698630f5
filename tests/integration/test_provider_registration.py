"""Adding an energy provider is adding its client module and its simulator module, and nothing else.

The repository is copied to a temporary directory, and FixedRate, a provider that exists nowhere in the
repository (its two modules live in ``tests/integration/new_provider/``), is added there as exactly two
new files: ``sweeper/energy/fixedrate.py`` and ``devnet/providers/fixedrate.py``. Everything below then
runs that copy's own code in subprocesses: ``sweeper config check`` validates and reports FixedRate's
settings, the devnet serves it on its declared port and injects faults into it, ``devnet_env`` fills its
settings, its secrets reach the log redactor, ``sweeper energy quotes`` prices it, a sweep through it alone
confirms on chain while the receiver verifies its callback, and ``git status`` in the copy shows the two
new files as the only change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devnet.crypto import generate_key

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).with_name("new_provider")
NEW_FILES = {
    "sweeper/energy/fixedrate.py": TEMPLATES / "energy_fixedrate.py",
    "devnet/providers/fixedrate.py": TEMPLATES / "devnet_fixedrate.py",
}
PORT_OFFSET = 19  # FixedRate's SimulatorSpec.port_offset: the last port the container publishes
API_KEY = "fixedrate-sample-api-key"  # the sample credentials its simulator accepts
CALLBACK_SECRET = "fixedrate-sample-callback-secret"
SUN_PER_ENERGY = 40
MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
TRX = 1_000_000
USDT = 1_000_000


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as they are now, committed in a fresh repository, plus the two new files."""
    root = tmp_path_factory.mktemp("repo")
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(source.read_bytes())
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the repository as it is")
    for target, template in NEW_FILES.items():
        assert not (root / target).exists()
        (root / target).write_text(template.read_text())
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files the processes write (ledger, mnemonic, logs), kept outside the copy."""
    path = tmp_path_factory.mktemp("work")
    (path / "mnemonic.txt").write_text(MNEMONIC)
    return path


REGISTRIES_SCRIPT = """
import json
from devnet.providers.registry import simulators
from sweeper.energy.registry import providers

print(json.dumps({"sources": list(providers().names()), "simulators": simulators().port_offsets()}))
"""


@pytest.fixture(scope="module")
def registries(copy: Path) -> dict[str, Any]:
    """What the copy's two registries discover: source names in order, simulator port offsets."""
    done = run(copy, "-c", REGISTRIES_SCRIPT, env=clean_env(copy))
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def clean_env(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPER_")}
    env["PYTHONPATH"] = str(copy)
    return env


def run(
    copy: Path, *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in the copy, with only the copy's code importable ahead of the installed one."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_base_port(span: int) -> int:
    """A port such that it and the next ``span`` ports are free now."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000 - span)
        sockets = []
        try:
            for port in range(base, base + span + 1):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def devnet(copy: Path, work: Path, registries: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The copy's devnet (``python -m devnet``) on a fixed base port; its ``/devnet/state``."""
    base = free_base_port(max(registries["simulators"].values()))
    log = open(work / "devnet.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "devnet", "--port", str(base), "--block-time", "0.2", "--solid-depth", "2"],
        cwd=copy,
        env=clean_env(copy),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: b"devnet fixedrate" in (work / "devnet.log").read_bytes(), 60, "the devnet to start")
        state = httpx.get(f"http://127.0.0.1:{base}/devnet/state", timeout=10).json()
        yield {
            "base": base,
            "node_url": f"http://127.0.0.1:{base}/",
            "state": state,
            "log": work / "devnet.log",
        }
    finally:
        stop(proc)
        log.close()


def admin(devnet: dict[str, Any], path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(devnet["node_url"] + "devnet/" + path, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


DEVNET_ENV_SCRIPT = """
import json, sys
import httpx
from tasks.devnet_profile import devnet_env

node_url, database_url, destination, mnemonic_file, callback_url = sys.argv[1:6]
ports = httpx.get(node_url + "devnet/state").json()["ports"]

class Remote:  # a devnet in another process, seen through its admin API
    def __init__(self):
        self.node_url = node_url
    def provider_url(self, name):
        return f"http://127.0.0.1:{ports[name]}"

print(json.dumps(devnet_env(
    Remote(), database_url=database_url, broker_url="memory://", destination=destination,
    mnemonic_file=mnemonic_file, order="fixedrate", callback_public_url=callback_url,
    confirmations=1, poll_seconds=0.2,
)))
"""


@pytest.fixture(scope="module")
def sweep_env(copy: Path, work: Path, devnet: dict[str, Any]) -> dict[str, str]:
    """``devnet_env`` as the copy computes it, for a ledger in ``work`` and FixedRate alone."""
    _, hot = generate_key()
    admin(devnet, "fund", {"address": hot, "sun": 10 * TRX})
    admin(devnet, "mint", {"address": hot, "amount": 1})
    web_port = free_base_port(0)
    args = [devnet["node_url"], f"sqlite:///{work / 'ledger.sqlite3'}", hot, str(work / "mnemonic.txt")]
    done = run(copy, "-c", DEVNET_ENV_SCRIPT, *args, f"http://127.0.0.1:{web_port}", env=clean_env(copy))
    assert done.returncode == 0, done.stderr
    env: dict[str, str] = json.loads(done.stdout)
    env["SWEEPER_LOG_FORMAT"] = "json"
    env["SWEEPER_TEST_WEB_PORT"] = str(web_port)
    return env


def with_env(copy: Path, settings: dict[str, str]) -> dict[str, str]:
    return {**clean_env(copy), **settings}


# -- the copy is what runs --------------------------------------------------------------------------------
def test_the_subprocesses_import_the_copy_with_its_new_provider_not_the_repository(copy: Path) -> None:
    code = (
        "import sweeper.energy.fixedrate as a, devnet.providers.fixedrate as b; print(a.__file__, b.__file__)"
    )
    done = run(copy, "-c", code, env=clean_env(copy))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(copy / name) for name in NEW_FILES]


# -- settings -----------------------------------------------------------------------------------------------
def test_config_check_names_the_new_providers_missing_key_and_lists_it_among_the_known(
    copy: Path, registries: dict[str, Any]
) -> None:
    hot = generate_key()[1]
    missing = run(
        copy,
        "-m",
        "tasks.cli",
        "config",
        "check",
        env=with_env(copy, {"SWEEPER_DESTINATION": hot, "SWEEPER_ENERGY__ORDER": "fixedrate"}),
    )
    unknown = run(
        copy,
        "-m",
        "tasks.cli",
        "config",
        "check",
        env=with_env(
            copy,
            {
                "SWEEPER_DESTINATION": hot,
                "SWEEPER_ENERGY__ORDER": "moonpay",
                "SWEEPER_ENERGY__FIXEDRATE__BASE_URL": "not a url",
            },
        ),
    )

    assert missing.returncode == 2
    assert (
        "energy source 'fixedrate' is enabled but SWEEPER_ENERGY__FIXEDRATE__API_KEY is not set"
        in " ".join(missing.stderr.split())
    )
    assert unknown.returncode == 2
    reported = " ".join(unknown.stderr.split())
    sources = registries["sources"]
    assert sources[:4] == ["itrx", "ea888fee", "tronzap", "fixedrate"] and sources[-2:] == ["stake", "burn"]
    assert f"known: {', '.join(sources)}" in reported
    assert "SWEEPER_ENERGY__FIXEDRATE__BASE_URL:" in reported


def test_devnet_env_fills_the_new_providers_settings_and_config_check_accepts_them(
    copy: Path, devnet: dict[str, Any], sweep_env: dict[str, str]
) -> None:
    assert (
        sweep_env["SWEEPER_ENERGY__FIXEDRATE__BASE_URL"] == f"http://127.0.0.1:{devnet['base'] + PORT_OFFSET}"
    )
    assert sweep_env["SWEEPER_ENERGY__FIXEDRATE__API_KEY"] == API_KEY
    assert sweep_env["SWEEPER_ENERGY__FIXEDRATE__CALLBACK_SECRET"] == CALLBACK_SECRET
    assert sweep_env["SWEEPER_ENERGY__ITRX__API_KEY"]  # the existing providers are still filled

    done = run(copy, "-m", "tasks.cli", "config", "check", env=with_env(copy, sweep_env))

    assert done.returncode == 0, done.stderr
    assert "energy order: fixedrate" in done.stdout


REDACTION_SCRIPT = """
import structlog
from tasks.runtime import build_runtime

build_runtime()
structlog.get_logger("probe").info("probe", detail="key {key} and secret {secret}")
"""


def test_the_new_providers_secrets_are_registered_with_the_log_redactor(
    copy: Path, work: Path, sweep_env: dict[str, str]
) -> None:
    migrated = run(copy, "-m", "tasks.cli", "migrate", env=with_env(copy, sweep_env))
    assert migrated.returncode == 0, migrated.stderr
    script = REDACTION_SCRIPT.format(key=API_KEY, secret=CALLBACK_SECRET)

    done = run(copy, "-c", script, env=with_env(copy, sweep_env))

    assert done.returncode == 0, done.stderr
    line = next(json.loads(line) for line in done.stderr.splitlines() if '"probe"' in line)
    assert line["detail"] == "key *** and secret ***"


# -- the devnet -------------------------------------------------------------------------------------------
def test_the_devnet_serves_the_new_simulator_on_its_declared_port_and_lists_it(
    devnet: dict[str, Any], registries: dict[str, Any]
) -> None:
    port = devnet["base"] + PORT_OFFSET
    listed = httpx.get(devnet["node_url"] + "devnet/providers", timeout=10).json()["providers"]

    assert devnet["state"]["ports"]["fixedrate"] == port
    offsets = {name: offset for name, offset in registries["simulators"].items() if name != "node"}
    assert [p["name"] for p in listed] == list(offsets)
    assert [p["port"] for p in listed] == [devnet["base"] + offset for offset in offsets.values()]
    assert [p["name"] for p in listed][:3] == ["itrx", "ea888fee", "tronzap"]
    fixedrate = next(p for p in listed if p["name"] == "fixedrate")
    assert fixedrate["credentials"] == {"api_key": API_KEY, "callback_secret": CALLBACK_SECRET}
    price = httpx.get(f"http://127.0.0.1:{port}/v1/price", headers={"X-Api-Key": API_KEY}, timeout=10)
    assert price.json() == {"sun_per_energy": SUN_PER_ENERGY}
    assert f"devnet fixedrate http://127.0.0.1:{port}" in " ".join(devnet["log"].read_text().split())


def test_fault_injection_targets_the_new_simulator(devnet: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{devnet['base'] + PORT_OFFSET}/v1/price"
    headers = {"X-Api-Key": API_KEY}

    admin(devnet, "faults", {"target": "fixedrate", "error_rate": 1.0, "status": 503, "count": 1})
    failed = httpx.get(url, headers=headers, timeout=10)
    recovered = httpx.get(url, headers=headers, timeout=10)

    assert failed.status_code == 503
    assert recovered.status_code == 200
    refused = httpx.post(devnet["node_url"] + "devnet/faults", json={"target": "nowhere", "latency_ms": 1})
    assert refused.status_code == 400 and "fixedrate" in refused.json()["message"]


# -- the product uses it ----------------------------------------------------------------------------------
def test_energy_quotes_lists_the_new_provider_at_its_price(
    copy: Path, devnet: dict[str, Any], sweep_env: dict[str, str]
) -> None:
    _, address = generate_key()
    admin(devnet, "fund", {"address": address, "sun": 1 * TRX})
    env = with_env(copy, {**sweep_env, "SWEEPER_ENERGY__ORDER": "ea888fee,fixedrate"})

    done = run(
        copy, "-m", "tasks.cli", "energy", "quotes", "--address", address, "--energy", "100000", env=env
    )

    assert done.returncode == 0, done.stderr
    rows = {line.split()[1]: line for line in done.stdout.splitlines() if line.startswith("│")}
    assert "fixedrate" in rows and "ea888fee" in rows
    assert "4.000000" in rows["fixedrate"]  # 100,000 energy at 40 sun


def test_a_sweep_through_the_new_provider_alone_confirms_and_the_receiver_verifies_its_callback(
    copy: Path, work: Path, devnet: dict[str, Any], sweep_env: dict[str, str]
) -> None:
    env = with_env(copy, sweep_env)
    web_port = int(sweep_env["SWEEPER_TEST_WEB_PORT"])
    assert run(copy, "-m", "tasks.cli", "migrate", env=env).returncode == 0
    derived = run(copy, "-m", "tasks.cli", "addresses", "derive", "--count", "1", env=env)
    assert derived.returncode == 0, derived.stderr
    deposit = next(word for word in derived.stdout.split() if word.startswith("T") and len(word) == 34)
    admin(devnet, "fund", {"address": deposit, "sun": 1 * TRX})
    admin(devnet, "mint", {"address": deposit, "amount": 42 * USDT})
    admin(devnet, "produce", {"blocks": 1})
    web_log = open(work / "web.log", "wb")  # noqa: SIM115 - closed below
    web = subprocess.Popen(
        [sys.executable, "-m", "tasks.cli", "web", "--port", str(web_port)],
        cwd=copy,
        env=env,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    receiver = f"http://127.0.0.1:{web_port}"
    try:
        wait_for(lambda: _healthy(receiver), 60, "the receiver")

        swept = run(
            copy, "-m", "tasks.cli", "sweep", deposit, "--local", "--timeout", "90", env=env, timeout=150
        )

        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert "CONFIRMED" in swept.stdout
        ledger = sqlite3.connect(work / "ledger.sqlite3")
        orders = ledger.execute("SELECT source, order_no FROM energy_orders").fetchall()
        assert [source for source, _ in orders] == ["fixedrate"]
        wait_for(lambda: _callbacks(ledger), 30, "FixedRate's callback to be recorded")
        (provider, order_no, payload), *_ = _callbacks(ledger)
        assert (provider, order_no) == ("fixedrate", orders[0][1])

        replayed = _post(receiver, payload.encode(), CALLBACK_SECRET)
        forged = _post(receiver, payload.encode(), "not-the-secret")
        silent = _post(receiver, payload.encode(), CALLBACK_SECRET, provider="tronzap")

        assert (replayed.status_code, replayed.json()) == (200, {"duplicate": True})
        assert (forged.status_code, forged.json()["error"]) == (401, "bad_signature")
        assert (silent.status_code, silent.json()["error"]) == (404, "no_callbacks")
        assert len(_callbacks(ledger)) == 1
        ledger.close()
    finally:
        stop(web)
        web_log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _callbacks(ledger: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return ledger.execute("SELECT provider, order_no, payload FROM callback_events").fetchall()


def _post(receiver: str, body: bytes, secret: str, provider: str = "fixedrate") -> httpx.Response:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Signature": signature, "Content-Type": "application/json"}
    return httpx.post(f"{receiver}/callbacks/{provider}", content=body, headers=headers, timeout=10)


# -- and nothing else was edited ------------------------------------------------------------------------
def test_the_two_new_modules_are_the_only_change_in_the_copy(copy: Path, devnet: dict[str, Any]) -> None:
    status = git(copy, "status", "--porcelain", "--untracked-files=all")

    assert sorted(status.splitlines()) == sorted(f"?? {name}" for name in NEW_FILES)
