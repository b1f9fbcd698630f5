"""End to end in the production shape: workers hold no key; only the signer service does.

A real ``sweeper signer`` process is given the mnemonic; a Celery worker (prefork, two pool processes) is
given only the signer's URL and request key. Deposits are swept through it, and then the worker's
processes are searched — their environment and every readable region of their memory
(``/proc/<pid>/mem``) — for the mnemonic and the private keys. The same search finds the account key in
the signer's memory, so it is shown to find what is there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery

from config.celery import celery_settings
from sweeper.keys import MnemonicKeyring
from sweeper.models import SweepState
from tasks.devnet_profile import DEVNET_MNEMONIC
from tasks.processes import ProcessGroup, free_port
from tests.e2e.helpers import TRX, USDT, Site, fast_devnet, flushed_redis

pytestmark = pytest.mark.e2e

REDIS_DB = 6  # this suite's own broker database
HMAC_KEY = "e2e-signer-request-key-" + "0123456789abcdef" * 2
_MAP = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")


def group_pids(leader: int) -> list[int]:
    """The processes of ``leader``'s process group (a worker and its pool children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == leader:  # pgrp
            found.append(int(entry))
    return found


def memory_holds(pid: int, needles: list[bytes]) -> set[bytes]:
    """Which of ``needles`` occur anywhere in the readable memory of ``pid``."""
    found: set[bytes] = set()
    overlap = max(len(n) for n in needles)
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            match = _MAP.match(line.strip())
            if (
                not match
                or match.group(3)[0] != "r"
                or match.group(4) in ("[vvar]", "[vsyscall]", "[vvar_vclock]")
            ):
                continue
            start, end = int(match.group(1), 16), int(match.group(2), 16)
            tail = b""
            for offset in range(start, end, 1 << 24):
                try:
                    mem.seek(offset)
                    chunk = tail + mem.read(min(1 << 24, end - offset))
                except (OSError, ValueError, OverflowError):
                    break
                found.update(n for n in needles if n in chunk)
                tail = chunk[-overlap:]
    return found


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Site, str]]:
    with flushed_redis(REDIS_DB) as broker, fast_devnet() as devnet:
        built = Site.create(devnet, tmp_path)
        try:
            yield built, broker
        finally:
            built.close()


def test_workers_with_a_signer_service_sweep_and_hold_no_key_material(site: tuple[Site, str]) -> None:
    site_, broker = site
    workdir = site_.workdir
    secrets = workdir / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "hmac").write_text(HMAC_KEY)
    base = site_.env(broker, order="itrx,ea888fee,tronzap")
    signer_env = {**base, "SWEEPER_SIGNER__HMAC_KEY_FILE": str(secrets / "hmac")}
    port = free_port()
    worker_env = {k: v for k, v in base.items() if not k.startswith("SWEEPER_KEYS__")}
    worker_env |= {
        "SWEEPER_KEYS__REMOTE_SIGNER_URL": f"http://127.0.0.1:{port}",
        "SWEEPER_SIGNER__HMAC_KEY_FILE": str(secrets / "hmac"),
    }
    group = ProcessGroup(env=worker_env, workdir=workdir)
    try:
        signer = group.signer(port, signer_env)
        worker = group.worker("w1", concurrency=2)
        deposits = site_.deposits(2)
        site_.devnet.chain.fund(deposits[0], 1 * TRX)  # one activated, one not
        for n, address in enumerate(deposits):
            site_.devnet.chain.mint(address, (30 + n) * USDT)
        tasks = Celery("test-client")
        tasks.conf.update(celery_settings(broker, None))
        for address in deposits:
            tasks.send_task("sweeper.sweep_address", kwargs={"address": address})  # as the CLI does

        settled = site_.settled(deposits, 120)
        assert {a: [s.state for s in settled[a]] for a in deposits} == {
            a: [SweepState.CONFIRMED] for a in deposits
        }, group.logs("w1")[-3000:]
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'sweeper_signer_signed_total{kind="trc20_transfer"} 2.0' in metrics  # signed by the service

        ring = MnemonicKeyring(DEVNET_MNEMONIC)
        account_key: bytes = ring._MnemonicKeyring__key  # type: ignore[attr-defined]
        keys = [ring._private_key(i) for i in range(2)]
        needles = [DEVNET_MNEMONIC.encode(), " ".join(DEVNET_MNEMONIC.split()[:3]).encode(), account_key]
        needles += [account_key.hex().encode(), *keys, *(k.hex().encode() for k in keys)]

        pids = group_pids(worker.pid)
        assert len(pids) >= 3, pids  # the worker and its two pool processes
        for pid in pids:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert b"SWEEPER_KEYS__MNEMONIC" not in environ and b"KEYSTORE" not in environ
            assert not any(n in environ for n in needles)
            assert memory_holds(pid, needles) == set(), pid
        assert account_key in memory_holds(signer.pid, [account_key])  # the search finds what is there
    finally:
        group.stop()
