"""Benchmark 3: end to end, deposit to confirmed transfer, with 1, 2 and 4 worker processes.

The whole product as deployed: a Celery worker (prefork, ``-c N``) on its own Redis, beat (block
scanner, reconcile), the callback receiver, the ledger on PostgreSQL, the energy providers and the TRON
node of the devnet (its own process, 3 s blocks as on mainnet, providers delegating one block after an
order). 1,000 deposits land on watched, activated addresses at 40 per second (2,400 a minute, above the
2,000 a minute the fastest configuration is to reach), so each run shows its capacity, not the rate of
arrival; the scanner finds them and every sweep runs through its states until its transfer is
confirmed. Two more runs with the most workers measure latency: a burst of 1,000 deposits a minute
(the issue's figure for "under a burst"), and a light, steady rate, for the latency of the pipeline
itself rather than of a queue. Each run measures:

- sweeps per minute in the steady state: the 10th to the 90th percentile of confirmations, over the
  time between them (and, for reference, all sweeps over first deposit to last confirmation);
- latency per sweep, from the block holding the deposit to the block holding the sweep's transfer
  (in blocks, and in seconds between the two blocks' timestamps);
- CPU per sweep of every part of the stack and of the whole machine (others = everything else);
- the worker's RSS (pool processes) at rest and after the sweeps (benchmark 5 reads these).
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import profile
from bench.common import (
    BENCH_DIR,
    TRX,
    DevnetProcess,
    PrivateRedis,
    children_of,
    cpu_seconds,
    machine_cpu_seconds,
    percentile,
    pids_named,
    quiet_logs,
    rss_mb,
    say,
    scaled,
)

DEPOSITS = 1_000
WORKER_COUNTS = (1, 2, 4)
BLOCK_TIME = float(os.environ.get("BENCH_BLOCK_TIME", "3"))
DEPOSIT_RATE = float(os.environ.get("BENCH_DEPOSIT_RATE", "40"))
"""Deposits per second of the capacity runs: above the 2,000/min goal, so a run shows its capacity, not
the arrival rate (at 20/s, 1,200 a minute, no run could have shown more than about that)."""
MEMORY_ADDRESSES = int(os.environ.get("BENCH_MEMORY_ADDRESSES", "2000"))
"""Benchmark 5's deposits go to this many addresses in turn (10,000 deposits: five to each, 133 s apart at
15/s): a worker warms the caches it keeps per address (bounded, 16,384 addresses in each of the two
address caches) within the run, so what its RSS gains after the warm-up is growth, not a cache filling."""
MEMORY_RATE = float(os.environ.get("BENCH_MEMORY_RATE", "15"))
"""Deposits per second of benchmark 5 (one worker process): below what that process sweeps, so the queue
stays short and what its RSS gains over 10,000 sweeps is growth, not a backlog it holds."""
BURST_PER_MIN = float(os.environ.get("BENCH_BURST_PER_MIN", "1000"))
"""The latency-under-a-burst run: deposits a minute, with the most worker processes."""
LIGHT_DEPOSITS = 300
LIGHT_RATE = 4.0
"""The light-load run: deposits well under capacity, so latency is the pipeline's, not a queue's."""
CONFIRMATIONS = int(os.environ.get("BENCH_CONFIRMATIONS", "1"))
SOLID_DEPTH = int(os.environ.get("BENCH_SOLID_DEPTH", "2"))
"""The devnet's solid block trails its head by this many blocks. Mainnet's depths, for the waits after
the broadcast: ``BENCH_CONFIRMATIONS=19 BENCH_SOLID_DEPTH=18`` (docs/TRON.md §8)."""
POLL_SECONDS = 3.0
SCAN_INTERVAL = 1.0
PROVIDER_DELAY_BLOCKS = 1
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
ZERO = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"
_ADDRESSES: list[str] = []


def deposit_addresses(count: int) -> list[str]:
    """Deposit addresses derived from the devnet mnemonic (m/44'/195'/0'/0/i), derived once per run."""
    from sweeper.keys import MnemonicKeyring
    from tasks.devnet_profile import DEVNET_MNEMONIC

    if len(_ADDRESSES) < count:
        ring = MnemonicKeyring(DEVNET_MNEMONIC)
        _ADDRESSES.extend(ring.derive(i) for i in range(len(_ADDRESSES), count))
    return _ADDRESSES[:count]


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"sweeper_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql") + "postgres", autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PG + name
    finally:
        with psycopg.connect(
            PG.replace("postgresql+psycopg", "postgresql") + "postgres", autocommit=True
        ) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def worker_rss(pid: int) -> dict[str, float]:
    """RSS of the Celery main process and of its pool processes (the ones that run sweeps)."""
    pool = [rss_mb(child) for child in children_of(pid)]
    return {
        "main_mb": round(rss_mb(pid), 1),
        "pool_max_mb": round(max(pool, default=0.0), 1),
        "pool_mean_mb": round(statistics.mean(pool), 1) if pool else 0.0,
        "total_mb": round(rss_mb(pid) + sum(pool), 1),
    }


RSS_SAMPLE_EVERY_S = 30.0
"""While deposits arrive, the worker's RSS is read this often: growth after the warm-up shows in them."""


class RssSamples:
    """The worker's RSS every ``every`` seconds, against the deposits sent so far."""

    def __init__(self, pid: int, every: float = RSS_SAMPLE_EVERY_S) -> None:
        self.pid, self.every = pid, every
        self.rows: list[dict[str, float]] = []
        self._next = time.monotonic() + every

    def maybe(self, deposits: int) -> None:
        if time.monotonic() >= self._next:
            self._next += self.every
            self.rows.append({"deposits": deposits, **worker_rss(self.pid)})


def run_once(
    workers: int, deposits: int, rate: float, workdir: Path, distinct: int | None = None
) -> dict[str, Any]:
    """One end-to-end run with ``workers`` pool processes; returns its measurements. ``distinct``: the
    deposits go to that many addresses in turn (each deposit to an address of its own without it)."""
    from sweeper.chain import TronChain
    from sweeper.ledger.engine import create_engine_for
    from sweeper.ledger.migrate import upgrade
    from sweeper.ledger.records import DepositAddress
    from sweeper.ledger.repository import Ledger
    from sweeper.models import USDT_MAINNET, SweepState
    from tasks.devnet_profile import DEVNET_MNEMONIC, devnet_env
    from tasks.processes import ProcessGroup, free_port

    addresses = deposit_addresses(min(distinct or deposits, deposits))
    terminal = {SweepState.CONFIRMED, SweepState.SKIPPED, SweepState.FAILED}
    devnet_args = [
        "--block-time",
        str(BLOCK_TIME),
        "--provider-delay-blocks",
        str(PROVIDER_DELAY_BLOCKS),
        "--callback-time-scale",
        "0.05",
        "--solid-depth",
        str(SOLID_DEPTH),
    ]
    with DevnetProcess(*devnet_args) as dn, postgres_database() as db, PrivateRedis(workdir) as broker:
        upgrade(db)
        ledger = Ledger(create_engine_for(db))
        hot = dn.admin("accounts", {"count": 1, "sun": 10 * TRX, "usdt": 1})["accounts"][0]["address"]
        ledger.add_addresses(DepositAddress(a, f"mnemonic:{i}", f"user-{i}") for i, a in enumerate(addresses))
        # Returning customers: the addresses are activated already, and hold the TRX that pays for the
        # bandwidth of each of their sweeps beyond the first (the free 600 bytes a day cover one of 345;
        # docs/TRON.md, bandwidth: staked, then free, then 1,000 sun a byte burned)
        trx = 1 + -(-deposits // len(addresses))
        for address in addresses:
            dn.admin("fund", {"address": address, "sun": trx * TRX})
        head = dn.admin("produce", {"blocks": 1})["head"]
        ledger.set_cursor("blocks", head)
        mnemonic = workdir / "mnemonic.txt"
        mnemonic.write_text(DEVNET_MNEMONIC)
        mnemonic.chmod(0o600)
        web_port = free_port()
        group = ProcessGroup(env={}, workdir=workdir)
        group.env = _env(dn, db, broker.url, hot, mnemonic, web_port, devnet_env)
        try:
            group.web(web_port)
            worker = group.worker("worker", concurrency=workers)
            group.beat()
            _wait_until_ready(ledger, dn)
            at_rest = worker_rss(worker.pid)
            samples = RssSamples(worker.pid)
            cpu_before = _cpu_snapshot(dn.pid, group, broker)
            profiler = profile.Profiler(worker.pid, workdir / "profile.txt") if profile.enabled() else None

            say(f"[e2e] {workers} worker process(es): {deposits} deposits at {rate:g}/s ...")
            first_block = dn.admin("produce", {"blocks": 1})["head"]  # deposits land after this block
            started = time.time()
            for i in range(deposits):
                due = started + i / rate
                if (wait := due - time.time()) > 0:
                    time.sleep(wait)
                samples.maybe(i)
                dn.admin(
                    "mint", {"address": addresses[i % len(addresses)], "amount": (100 + i % 900) * 1_000_000}
                )
            sweeps = _wait_for(ledger, deposits, terminal, timeout=max(600.0, deposits * 1.5))
            finished = time.time()
            cpu_after = _cpu_snapshot(dn.pid, group, broker)
            split = profiler.stop() if profiler is not None else {}
            cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
            cpu["others"] = cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine")
            after = worker_rss(worker.pid)
        finally:
            group.stop()
        tasks = _advance_tasks(workdir / "worker.log")
        orders = _orders(ledger)
        chain = TronChain(dn.node_url)
        try:
            last_block = chain.head_block_number()
            transfers = chain.block_transfers(first_block, last_block, [USDT_MAINNET])
            timestamps = _block_times(dn, first_block, last_block)
        finally:
            chain.close()
        ledger.engine.dispose()

    deposit_blocks: dict[str, list[int]] = {}
    for t in transfers:
        if t.from_address == ZERO:
            deposit_blocks.setdefault(t.to_address, []).append(t.block_number)
    confirmed = [s for s in sweeps if s.state is SweepState.CONFIRMED]
    # An address deposited to several times: a sweep swept the latest deposit before its confirmation
    pairs = [
        (s.confirmed_block, _deposit_before(deposit_blocks.get(s.address, []), s.confirmed_block))
        for s in confirmed
        if s.confirmed_block
    ]
    lat_blocks = [done - came for done, came in pairs if came is not None]
    lat_seconds = [(timestamps[done] - timestamps[came]) / 1000 for done, came in pairs if came is not None]
    done_at = sorted(s.updated_at.timestamp() for s in confirmed)
    last_done = done_at[-1] if done_at else finished
    span = max(last_done - started, 1e-9)
    low, high = int(len(done_at) * 0.1), int(len(done_at) * 0.9) - 1
    steady = (high - low) / max(done_at[high] - done_at[low], 1e-9) * 60 if high > low else 0.0
    elapsed = finished - started
    states: dict[str, int] = {}
    for s in sweeps:
        states[s.state.value] = states.get(s.state.value, 0) + 1
    sources: dict[str, int] = {}
    for s in confirmed:
        sources[s.energy_source or "none"] = sources.get(s.energy_source or "none", 0) + 1
    return {
        "workers": workers,
        "deposits": deposits,
        "deposit_rate_per_s": rate,
        "addresses": len(addresses),
        "arrival_seconds": round(deposits / rate, 1),
        "confirmed": len(confirmed),
        "states": states,
        "sources": sources,
        "seconds": round(span, 1),
        "sweeps_per_min": round(steady, 1),
        "sweeps_per_min_overall": round(len(confirmed) / span * 60, 1),
        "latency_blocks_p50": percentile(lat_blocks, 50) if lat_blocks else None,
        "latency_blocks_p95": percentile(lat_blocks, 95) if lat_blocks else None,
        "latency_s_p50": round(percentile(lat_seconds, 50), 1) if lat_seconds else None,
        "latency_s_p95": round(percentile(lat_seconds, 95), 1) if lat_seconds else None,
        "cost_sun_mean": round(statistics.mean(s.cost_sun for s in confirmed)) if confirmed else None,
        "rss_at_rest": at_rest,
        "rss_after": after,
        "rss_samples": samples.rows,
        "cpu_cores": {k: round(v / max(elapsed, 1e-9), 2) for k, v in cpu.items()},
        "cpu_ms_per_sweep": {k: round(v * 1000 / max(len(confirmed), 1)) for k, v in cpu.items()},
        "tasks_per_sweep": round(tasks / max(len(confirmed), 1), 2) if tasks else None,
        "orders": orders,
        "profile": split,
    }


def _env(
    dn: DevnetProcess, db: str, broker: str, hot: str, mnemonic: Path, web_port: int, devnet_env: Any
) -> dict[str, str]:
    env: dict[str, str] = devnet_env(
        dn,
        database_url=db,
        broker_url=broker,
        destination=hot,
        mnemonic_file=str(mnemonic),
        callback_public_url=f"http://127.0.0.1:{web_port}",
        confirmations=CONFIRMATIONS,
        poll_seconds=POLL_SECONDS,
        extra={
            "SWEEPER_SCAN_INTERVAL_SECONDS": str(SCAN_INTERVAL),
            "SWEEPER_RECONCILE_INTERVAL_SECONDS": "30",
            "SWEEPER_LOG_FORMAT": "json",
            # 1,000 sweeps at ~3 TRX cross the default 2,000 TRX an hour: the guard would pause the run
            "SWEEPER_BUDGET__SUN_PER_HOUR": "0",
        },
    )
    return env


def _orders(ledger: Any) -> dict[str, int]:
    """Energy orders the fleet placed, by how they ended: more than one a sweep is paid twice."""
    from sweeper.ledger.stats import order_counts

    by_status: dict[str, int] = {}
    for _source, status, n in order_counts(ledger):
        by_status[status.value] = by_status.get(status.value, 0) + n
    return {"total": sum(by_status.values()), **by_status}


def _cpu_snapshot(devnet_pid: int, group: Any, broker: PrivateRedis) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack, PostgreSQL, and the whole machine."""
    children = group.children
    return {
        "worker": _tree_cpu(children["worker"].pid),
        "beat_web": _tree_cpu(children["beat"].pid) + _tree_cpu(children["web"].pid),
        "devnet": cpu_seconds(devnet_pid),
        "redis": cpu_seconds(broker.proc.pid) if broker.proc else 0.0,
        "postgres": sum(cpu_seconds(pid) for pid in pids_named("postgres")),
        "machine": machine_cpu_seconds(),
    }


RUN_EVENTS = frozenset({"task.done", "task.retry", "task.rejected", "task.failed"})


def _advance_tasks(log: Path) -> int:
    """``sweeper.advance`` tasks the worker ran: the task decorator's one canonical JSON line per run
    (Celery's own per-task lines are muted). A run superseded by a newer schedule logs at DEBUG
    (``idle``: it read one Redis key) and is not counted."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    runs = 0
    for line in lines:
        if '"sweeper.advance"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(entry, dict)
            and entry.get("task") == "sweeper.advance"
            and entry.get("event") in RUN_EVENTS
        ):
            runs += 1
    return runs


def _tree_cpu(pid: int) -> float:
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in children_of(pid))


def _wait_until_ready(ledger: Any, dn: DevnetProcess, timeout: float = 120) -> None:
    """Until beat and the worker run scans (the cursor moves), then a few quiet seconds."""
    start_cursor = ledger.get_cursor("blocks")
    deadline = time.monotonic() + timeout
    while ledger.get_cursor("blocks") == start_cursor:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker never ran a block scan")
        dn.admin("produce", {"blocks": 1})
        time.sleep(1.0)
    time.sleep(5.0)


def _deposit_before(blocks: list[int], block: int) -> int | None:
    """The last of ``blocks`` (ascending) at or before ``block``."""
    at = bisect.bisect_right(blocks, block)
    return blocks[at - 1] if at else None


QUIET_S = 60.0
"""Deposits to an address whose sweep was still open joined it: the run ends when every sweep has ended
and none has opened for this long."""


def _wait_for(ledger: Any, expected: int, terminal: set[Any], timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    sweeps: list[Any] = []
    last_report = time.monotonic()
    seen, settled_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        sweeps = ledger.sweeps(limit=100_000)
        done = sum(1 for s in sweeps if s.state in terminal)
        if len(sweeps) != seen or done != len(sweeps):
            seen, settled_since = len(sweeps), time.monotonic()
        if done == len(sweeps) and (len(sweeps) >= expected or time.monotonic() - settled_since > QUIET_S):
            return sweeps
        if time.monotonic() - last_report > 15:
            say(f"[e2e]   {done}/{expected} sweeps settled")
            last_report = time.monotonic()
        time.sleep(1.0)
    say(f"[e2e]   timed out with {len(sweeps)} sweeps open or settled")
    return sweeps


def _block_times(dn: DevnetProcess, first: int, last: int) -> dict[int, int]:
    """Block number → timestamp (ms), read 100 blocks at a time."""
    times: dict[int, int] = {}
    for start in range(first, last + 1, 100):
        answer = dn.node(
            "wallet/getblockbylimitnext", {"startNum": start, "endNum": min(start + 100, last + 1)}
        )
        for block in answer.get("block", []):
            raw = block["block_header"]["raw_data"]
            times[int(raw.get("number", 0))] = int(raw["timestamp"])
    return times


def _one(workers: int, deposits: int, rate: float, name: str, distinct: int | None = None) -> dict[str, Any]:
    workdir = BENCH_DIR / "out" / name  # the processes' logs, kept for reading
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    result = run_once(workers, deposits, rate, workdir, distinct)
    say(
        f"[e2e]   {result['sweeps_per_min']}/min, p50 {result['latency_blocks_p50']} blocks "
        f"({result['latency_s_p50']} s), p95 {result['latency_blocks_p95']} blocks"
    )
    return result


def run(
    worker_counts: tuple[int, ...] = WORKER_COUNTS,
    *,
    light: bool = True,
    rate: float | None = None,
    distinct: int | None = None,
) -> dict[str, Any]:
    """The capacity runs (one per worker count) and, with ``light``, the latency runs: the burst of
    ``BURST_PER_MIN`` and the steady light load. ``distinct``: the addresses the deposits go to in turn."""
    quiet_logs()
    deposits = scaled(DEPOSITS, 20)
    runs = [_one(n, deposits, rate or DEPOSIT_RATE, f"e2e-{n}-workers", distinct) for n in worker_counts]
    out: dict[str, Any] = {
        "block_time_s": BLOCK_TIME,
        "provider_delay_blocks": PROVIDER_DELAY_BLOCKS,
        "confirmations": CONFIRMATIONS,
        "solid_depth": SOLID_DEPTH,
        "poll_seconds": POLL_SECONDS,
        "scan_interval_s": SCAN_INTERVAL,
        "runs": runs,
    }
    if light:
        workers = max(worker_counts)
        out["burst"] = _one(workers, deposits, BURST_PER_MIN / 60, f"e2e-{workers}-workers-burst")
        out["light"] = _one(workers, scaled(LIGHT_DEPOSITS, 20), LIGHT_RATE, f"e2e-{workers}-workers-light")
    return out
