"""Chaos, secrets: a whole run with distinctive secrets leaves none of them anywhere readable.

The devnet's provider accounts are re-keyed with credentials no other test uses, the deposit keys come
from a freshly generated 24-word mnemonic with a passphrase, the stake owner's key sits in a keystore
with its own password, and the node gets an API key. Then workers, beat, the receiver and Flower run a
real sweep (stake for activated deposits, itrx and its callbacks for one that must be activated, a
forged callback and a bad task argument for the error paths), at DEBUG level. Every log file, every
Redis value seen while the run went on, Flower's task list (arguments, results), every ledger row and
pytest's own captured output are then searched for each secret in every form it could take.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from mnemonic import Mnemonic
from sqlalchemy import select

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.keys import KeystoreKeyring, MnemonicKeyring
from sweeper.keys.hd import seed_from_mnemonic
from sweeper.ledger.records import DepositAddress
from sweeper.ledger.tables import Base
from sweeper.models import SweepState
from tasks.processes import ProcessGroup, free_port
from tests.chaos.invariants import check_invariants
from tests.e2e.helpers import BLOCK_TIME, FAST_SCRYPT_N, TRX, USDT, Site, flushed_redis, wait_for

pytestmark = pytest.mark.chaos

REDIS_DB = 15  # this module's own broker and result database
SETTLE_TIMEOUT = 90.0
FLOWER_USER, FLOWER_PASSWORD = "auditor", "chaos-secrets-flower"


def distinctive(label: str) -> str:
    """A secret no other test, fixture or default could contain by chance."""
    return f"k2{label}{secrets.token_hex(12)}"


@contextmanager
def itrx_first_devnet() -> Iterator[Devnet]:
    """A fast devnet where itrx is the cheapest rental (so its signed callbacks are part of the run)."""
    devnet = Devnet(
        port=0,
        block_time=BLOCK_TIME,
        solid_depth=2,
        callback_time_scale=0.05,
        provider_options={"prices": {"itrx": {"1H": 30}}},
    )
    devnet.start()
    try:
        yield devnet
    finally:
        devnet.stop()


def rekey_providers(devnet: Devnet, credentials: dict[str, tuple[str, str]]) -> None:
    """Give each simulated provider account new credentials (the devnet has no admin route for it)."""
    found = set()
    for server in devnet._servers:
        app = getattr(server.config.app, "app", server.config.app)
        for route in getattr(app, "routes", []):
            sim = getattr(getattr(route, "endpoint", None), "__self__", None)
            account = getattr(sim, "account", None)
            name = type(sim).__name__.lower()
            if account is not None and name in credentials:
                account.api_key, account.secret = credentials[name]
                found.add(name)
    assert found == set(credentials), f"provider accounts not found: {set(credentials) - found}"


def forms_of_key(key: bytes) -> list[str]:
    """Every way a private key or seed is commonly written down."""
    return [
        key.hex(),
        key.hex().upper(),
        "0x" + key.hex(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
    ]


def forms_of_text(text: str) -> list[str]:
    """A secret string as it would appear raw, JSON-escaped, URL-encoded or base64-encoded."""
    return [
        text,
        json.dumps(text)[1:-1],
        text.replace(" ", "%20"),
        text.replace(" ", "+"),
        base64.b64encode(text.encode()).decode(),
    ]


class RedisRecorder:
    """Everything in the suite's Redis database, sampled while the run goes on (messages come and go)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.seen: list[str] = []

    def sample(self) -> None:
        for raw in self.client.scan_iter(count=1000):
            key = raw.decode(errors="replace")
            kind = self.client.type(raw).decode()
            if kind == "string":
                value: Any = self.client.get(raw)
            elif kind == "list":
                value = self.client.lrange(raw, 0, -1)
            elif kind == "hash":
                value = self.client.hgetall(raw)
            elif kind == "set":
                value = self.client.smembers(raw)
            elif kind == "zset":
                value = self.client.zrange(raw, 0, -1)
            else:
                continue
            self.seen.append(f"{key} {value!r}")

    def close(self) -> None:
        self.client.close()


def test_a_whole_run_leaves_no_secret_in_logs_task_messages_the_ledger_or_test_output(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    phrase = Mnemonic("english").generate(strength=256)
    passphrase = distinctive("passphrase")
    keystore_password = distinctive("keystore")
    node_api_key = distinctive("nodekey")
    credentials = {
        "itrx": (distinctive("itrxkey"), distinctive("itrxsecret")),
        "ea888fee": (distinctive("eakey"), distinctive("easecret")),
        "tronzap": (distinctive("tztoken"), distinctive("tzsecret")),
    }
    ring = MnemonicKeyring(phrase, passphrase)
    owner_key, owner = generate_key()

    with flushed_redis(REDIS_DB) as broker, itrx_first_devnet() as devnet:
        rekey_providers(devnet, credentials)
        site = Site.create(devnet, tmp_path)
        recorder = RedisRecorder(broker)
        group = ProcessGroup(env={}, workdir=tmp_path)
        try:
            devnet.chain.create_pool(owner, 100 * TRX, 10**6 * TRX)
            keystore = KeystoreKeyring.create(
                tmp_path / "keystore.json", keystore_password, scrypt_n=FAST_SCRYPT_N
            )
            keystore.add(owner_key)
            mnemonic_file = tmp_path / "deposit-words.txt"
            mnemonic_file.write_text(phrase + "\n")
            port = free_port()
            receiver = f"http://127.0.0.1:{port}"
            group.env = site.env(
                broker,
                order="stake,itrx,ea888fee,tronzap",
                callback_public_url=receiver,
                extra={
                    "SWEEPER_LOG_LEVEL": "DEBUG",
                    # Task events from the worker's first task, "task-sent" (with the sender's args)
                    # included: without this Flower asks for them only 5 s after it starts, when this
                    # run may be over, and would list nothing to search.
                    "SWEEPER_TASK_EVENTS": "true",
                    "SWEEPER_TRON__API_KEY": node_api_key,
                    "SWEEPER_KEYS__MNEMONIC_FILE": str(mnemonic_file),
                    "SWEEPER_KEYS__PASSPHRASE": passphrase,
                    "SWEEPER_KEYS__KEYSTORE_FILE": str(keystore.path),
                    "SWEEPER_KEYS__KEYSTORE_PASSWORD": keystore_password,
                    "SWEEPER_ENERGY__STAKE__OWNER": owner,
                    "SWEEPER_ENERGY__ITRX__API_KEY": credentials["itrx"][0],
                    "SWEEPER_ENERGY__ITRX__API_SECRET": credentials["itrx"][1],
                    "SWEEPER_ENERGY__EA888FEE__API_KEY": credentials["ea888fee"][0],
                    "SWEEPER_ENERGY__EA888FEE__API_SECRET": credentials["ea888fee"][1],
                    "SWEEPER_ENERGY__TRONZAP__API_TOKEN": credentials["tronzap"][0],
                    "SWEEPER_ENERGY__TRONZAP__API_SECRET": credentials["tronzap"][1],
                },
            )
            deposits = [ring.derive(i) for i in range(3)]
            site.ledger.add_addresses(
                DepositAddress(a, f"mnemonic:{i}", f"vip-{i}") for i, a in enumerate(deposits)
            )
            site.scan_from_head()
            group.web(port)
            group.worker("w1", concurrency=2)
            group.beat()
            flower_port = free_port()
            group.flower(flower_port, f"{FLOWER_USER}:{FLOWER_PASSWORD}")
            flower = f"http://127.0.0.1:{flower_port}"

            plan = {deposits[0]: 70 * USDT, deposits[1]: 35 * USDT, deposits[2]: 120 * USDT}
            for address in deposits[:2]:
                devnet.chain.fund(address, 1 * TRX)  # on chain: stake can serve them
            devnet.chain.produce_blocks(1)
            for address, amount in plan.items():
                devnet.chain.mint(address, amount)
            # The error paths log too: a forged callback and a garbage task argument.
            forged = httpx.post(
                f"{receiver}/callbacks/itrx",
                json={"serial": "1", "status": 40, "receive_address": deposits[0]},
                headers={"TIMESTAMP": str(int(time.time())), "SIGNATURE": "f" * 64},
                timeout=10,
            )
            assert forged.status_code == 401
            garbage = httpx.post(
                f"{flower}/api/task/async-apply/sweeper.retry",  # an operator task (tasks/flower.py)
                json={"args": ["not-an-id"]},
                auth=(FLOWER_USER, FLOWER_PASSWORD),
                timeout=30,
            )
            assert garbage.status_code == 200

            def settled() -> bool:
                recorder.sample()
                found = {a: site.sweeps_of(a) for a in plan}
                return all(f and f[0].state is SweepState.CONFIRMED for f in found.values())

            wait_for(settled, SETTLE_TIMEOUT, "the three deposits to be swept", interval=0.3)
            sources = {site.sweeps_of(a)[0].energy_source for a in plan}
            assert sources == {"stake", "itrx"}, sources  # keystore key and provider credentials both used
            recorder.sample()
            tasks = httpx.get(
                f"{flower}/api/tasks",
                params={"limit": 10_000},
                auth=(FLOWER_USER, FLOWER_PASSWORD),
                timeout=30,
            )
            tasks.raise_for_status()
            check_invariants(devnet, site.ledger, plan, site.hot)
            ledger_text = _ledger_text(site)
        finally:
            group.stop()
            recorder.close()
            site.close()

    needles: dict[str, list[str]] = {
        "mnemonic": forms_of_text(phrase) + forms_of_text(" ".join(phrase.split()[:4])),
        "seed": forms_of_key(seed_from_mnemonic(phrase, passphrase)),
        "passphrase": forms_of_text(passphrase),
        "keystore password": forms_of_text(keystore_password),
        "node api key": forms_of_text(node_api_key),
        "stake owner key": forms_of_key(owner_key),
    }
    for index in range(3):
        needles[f"deposit key {index}"] = forms_of_key(ring._private_key(index))
    for provider, (key, secret) in credentials.items():
        needles[f"{provider} key"] = forms_of_text(key)
        needles[f"{provider} secret"] = forms_of_text(secret)

    logs = {path.name: path.read_text(errors="replace") for path in sorted(tmp_path.glob("*.log"))}
    assert {"w1.log", "beat.log", "web.log", "flower.log"} <= set(logs), sorted(logs)
    assert all(logs[name] for name in ("w1.log", "beat.log")), "the processes logged nothing to search"
    captured = capfd.readouterr()
    haystacks = {
        **{f"log file {name}": text for name, text in logs.items()},
        "redis (sampled during the run)": "\n".join(recorder.seen),
        "flower task list (args, kwargs, results)": tasks.text,
        "ledger rows": ledger_text,
        "pytest captured stdout": captured.out,
        "pytest captured stderr": captured.err,
        "pytest captured logging": caplog.text,
    }
    # The places searched did hold the run: its addresses, orders, tasks and refusals are all there.
    assert recorder.seen and "sweeper.advance" in tasks.text
    assert all(a in logs["w1.log"] and a in ledger_text for a in plan)
    assert "callback.rejected" in logs["web.log"] and "callback.accepted" in logs["web.log"]
    leaks = sorted(
        f"{secret_name} in {where}"
        for where, text in haystacks.items()
        for secret_name, forms in needles.items()
        if any(form in text for form in forms)
    )
    assert not leaks, leaks  # names only: the message itself must not print a secret


def _ledger_text(site: Site) -> str:
    """Every row of every ledger table, as text."""
    parts = []
    with site.ledger.engine.connect() as conn:
        for name, table in Base.metadata.tables.items():
            rows = conn.execute(select(table)).mappings().all()
            parts.append(f"{name}: {[dict(r) for r in rows]!r}")
    return "\n".join(parts)
