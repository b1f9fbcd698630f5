"""Benchmark 7 (``make bench-hosts``, root only, not in CI): scale-out over worker hosts, and a partition.

The project's own test hosts on this machine: network namespaces (``ip netns``) joined by veth pairs to
one bridge. ``sw-svc`` (10.77.0.1) is the services host: PostgreSQL (a private cluster), Redis, the
devnet (node and providers), beat and the callback receiver. ``sw-h1``..``sw-h3`` (10.77.0.11-13) are
worker hosts, each running one Celery worker (``-c 2``) inside a CPU cgroup capped at ``BENCH_HOST_CPU``
cores (default 0.4), so adding a host adds a fixed share of CPU and the ratio shows scaling, not the
shared cores.

1. Sweeps per minute (steady state, as in benchmark 3) with 1, 2 and 3 worker hosts.
2. Partition: 3 hosts; when a third of the sweeps are confirmed, host 3's link goes down (its processes
   live on, cut off, as in a real partition). The others keep sweeping; its in-flight sweeps are taken
   over once their address locks expire (15 s) and ``reconcile`` re-enqueues them; then every safety
   invariant of the chaos suites is checked against the devnet's chain and providers' books
   (``tests/chaos/invariants.py``: each deposit swept exactly once, no order placed twice, nothing sent
   twice or anywhere but the hot wallet, ledger and chain agree).

The driver runs inside ``sw-svc`` (the devnet in its process, so the audit can read the providers'
books); ``python -m bench hosts`` sets the network up, runs it there, and tears everything down.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import BENCH_DIR, TRX, percentile, say, scaled

SVC = "sw-svc"
HOSTS = ("sw-h1", "sw-h2", "sw-h3")
BRIDGE = "swbr0"
NET = "10.77.0"
SVC_IP = f"{NET}.1"
HOST_CPU = float(os.environ.get("BENCH_HOST_CPU", "0.4"))
CGROUP = Path("/sys/fs/cgroup/cpu")
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/bin"))
PG_PORT = 5433
REDIS_PORT = 6390
DEPOSIT_RATE = float(os.environ.get("BENCH_DEPOSIT_RATE", "40"))
"""As benchmark 3's capacity runs: at 20/s the 1,000 deposits take 50 s to arrive, which bounded the
3-host run's whole-run rate near 1,000 a minute (measured 848.5/min, 1.57x one host, 2026-12-04)."""
RECONCILE_S = 10.0
POLL_SECONDS = 3.0


def _ip(ns: str | None, *args: str) -> None:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    subprocess.run(argv, check=True, capture_output=True)


def _host_ip(i: int) -> str:
    return f"{NET}.{11 + i}"


def setup_network() -> None:
    teardown_network()
    _ip(None, "link", "add", BRIDGE, "type", "bridge")
    _ip(None, "addr", "add", f"{NET}.254/24", "dev", BRIDGE)
    _ip(None, "link", "set", BRIDGE, "up")
    for i, (ns, addr) in enumerate([(SVC, SVC_IP)] + [(h, _host_ip(j)) for j, h in enumerate(HOSTS)]):
        subprocess.run(["ip", "netns", "add", ns], check=True)
        outer, inner = f"swv{i}o", f"swv{i}i"
        _ip(None, "link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip(None, "link", "set", inner, "netns", ns)
        _ip(None, "link", "set", outer, "master", BRIDGE)
        _ip(None, "link", "set", outer, "up")
        _ip(ns, "link", "set", "lo", "up")
        _ip(ns, "addr", "add", f"{addr}/24", "dev", inner)
        _ip(ns, "link", "set", inner, "up")
    for ns in HOSTS:
        group = CGROUP / f"sweeper-bench-{ns}"
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text(str(int(HOST_CPU * 100000)))


def teardown_network() -> None:
    for ns in (SVC, *HOSTS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        group = CGROUP / f"sweeper-bench-{ns}"
        if group.exists():
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                group.rmdir()
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    # A veth's outer end outlives ``ip netns del`` while a process still holds the namespace (a cut-off
    # host's worker, the services' PostgreSQL): deleting that end deletes the pair, so setup can add it.
    for i in range(len(HOSTS) + 1):
        subprocess.run(["ip", "link", "del", f"swv{i}o"], capture_output=True, check=False)


def run() -> dict[str, Any]:
    """Outer: build the hosts, run the driver inside ``sw-svc``, always tear the hosts down."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        raise SystemExit("bench hosts needs root and iproute2 (ip netns, veth, a bridge) and cgroup cpu")
    out = Path(tempfile.mkstemp(prefix="bench-hosts-", suffix=".json")[1])
    try:
        setup_network()
        argv = [
            "nsenter",
            f"--net=/run/netns/{SVC}",
            sys.executable,
            "-m",
            "bench.hosts",
            "--inner",
            str(out),
        ]
        subprocess.run(argv, cwd=BENCH_DIR.parent, check=True)
        result: dict[str, Any] = json.loads(out.read_text())
    finally:
        teardown_network()
        out.unlink(missing_ok=True)
    return result


# -- inside sw-svc ------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_postgres(workdir: Path) -> Iterator[str]:
    """A PostgreSQL cluster of the services host, listening on its address (trust inside the bridge)."""
    data = Path(tempfile.mkdtemp(prefix="bench-hosts-pg-"))  # /tmp: postgres cannot enter a root home
    shutil.chown(data, "postgres")
    run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {NET}.0/24 trust\n")
    opts = f"-c listen_addresses={SVC_IP} -p {PG_PORT} -c unix_socket_directories={data} -c fsync=off"
    opts += " -c max_connections=300"
    subprocess.run(
        [
            *run_as,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@{SVC_IP}:{PG_PORT}/"
    finally:
        subprocess.run(
            [*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)


class Admin:
    """The devnet's admin API over HTTP, as the other benchmarks use it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=60)

    def __call__(self, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.post(self.url + "devnet/" + path, json=body or {})
        resp.raise_for_status()
        return resp.json()


def _spawn(
    name: str, argv: list[str], env: dict[str, str], workdir: Path, host: str | None = None
) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    if host is not None:
        # Join the host's CPU cgroup, then its network namespace; the worker's pool inherits both.
        # nsenter, not ip netns exec: that one mounts a sysfs of its own, without the cgroup tree.
        procs = CGROUP / f"sweeper-bench-{host}" / "cgroup.procs"
        script = f'echo $$ > {procs} && exec nsenter --net=/run/netns/{host} "$@"'
        argv = ["sh", "-c", script, "sh", *argv]
    return subprocess.Popen(
        argv, env=full, stdout=log, stderr=subprocess.STDOUT, cwd=BENCH_DIR.parent, start_new_session=True
    )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def one_run(hosts: int, deposits: int, workdir: Path, *, cut_at: float | None = None) -> dict[str, Any]:
    """``hosts`` worker hosts sweep ``deposits`` deposits; with ``cut_at``, the last host is cut off when
    that share of them is confirmed. Returns rates, the cut's figures and the invariants' findings."""
    import psycopg

    from bench.e2e import deposit_addresses
    from devnet.server import Devnet
    from sweeper.ledger.engine import create_engine_for
    from sweeper.ledger.migrate import upgrade
    from sweeper.ledger.records import DepositAddress
    from sweeper.ledger.repository import Ledger
    from sweeper.models import SweepState
    from tasks.devnet_profile import DEVNET_MNEMONIC, devnet_env
    from tasks.processes import free_port, wait_http
    from tests.chaos.invariants import audit

    terminal = {SweepState.CONFIRMED, SweepState.SKIPPED, SweepState.FAILED}
    addresses = deposit_addresses(deposits)
    procs: list[subprocess.Popen[bytes]] = []
    with private_postgres(workdir) as pg:
        with psycopg.connect(
            pg.replace("postgresql+psycopg", "postgresql") + "postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE sweeper")
        db = pg + "sweeper"
        redis_proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                SVC_IP,
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=open(workdir / "redis.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        devnet = Devnet(
            host=SVC_IP,
            port=0,
            block_time=3.0,
            solid_depth=2,
            provider_delay_blocks=1,
            callback_time_scale=0.05,
        )
        devnet.start()
        try:
            time.sleep(0.5)
            upgrade(db)
            ledger = Ledger(create_engine_for(db))
            admin = Admin(devnet.node_url)
            hot = admin("accounts", {"count": 1, "sun": 10 * TRX, "usdt": 1})["accounts"][0]["address"]
            ledger.add_addresses(
                DepositAddress(a, f"mnemonic:{i}", f"user-{i}") for i, a in enumerate(addresses)
            )
            for address in addresses:
                admin("fund", {"address": address, "sun": 1 * TRX})
            ledger.set_cursor("blocks", admin("produce", {"blocks": 1})["head"])
            mnemonic = workdir / "mnemonic.txt"
            mnemonic.write_text(DEVNET_MNEMONIC)
            mnemonic.chmod(0o600)
            web_port = free_port()
            env = devnet_env(
                devnet,
                database_url=db,
                broker_url=f"redis://{SVC_IP}:{REDIS_PORT}/0",
                destination=hot,
                mnemonic_file=str(mnemonic),
                callback_public_url=f"http://{SVC_IP}:{web_port}",
                confirmations=1,
                poll_seconds=POLL_SECONDS,
                extra={
                    "SWEEPER_SCAN_INTERVAL_SECONDS": "1",
                    "SWEEPER_RECONCILE_INTERVAL_SECONDS": str(RECONCILE_S),
                    "SWEEPER_LOG_FORMAT": "json",
                    "SWEEPER_LOG_LEVEL": "WARNING",
                    "SWEEPER_BUDGET__SUN_PER_HOUR": "0",  # the runs spend more than the default hour's budget
                },
            )
            py = [sys.executable, "-m"]
            web = _spawn(
                "web",
                [
                    *py,
                    "uvicorn",
                    "tasks.web:app",
                    "--host",
                    SVC_IP,
                    "--port",
                    str(web_port),
                    "--log-level",
                    "warning",
                ],
                env,
                workdir,
            )
            procs.append(web)
            wait_http(f"http://{SVC_IP}:{web_port}/healthz", web)
            procs.append(
                _spawn(
                    "beat",
                    [
                        *py,
                        "celery",
                        "-A",
                        "tasks.app",
                        "beat",
                        "-s",
                        str(workdir / "beat-schedule"),
                        "-l",
                        "WARNING",
                    ],
                    env,
                    workdir,
                )
            )
            workers = []
            for i in range(hosts):
                host = HOSTS[i]
                argv = [
                    *py,
                    "celery",
                    "-A",
                    "tasks.app",
                    "worker",
                    "-Q",
                    "scan,sweep",
                    "-c",
                    "2",
                    "-n",
                    f"{host}@%h",
                    "-l",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ]
                workers.append(_spawn(host, argv, env, workdir, host=host))
            procs += workers
            start_cursor = ledger.get_cursor("blocks")
            deadline = time.monotonic() + 180
            while ledger.get_cursor("blocks") == start_cursor and time.monotonic() < deadline:
                admin("produce", {"blocks": 1})
                time.sleep(1.0)
            time.sleep(3.0)

            plan: dict[str, int] = {}
            say(f"[hosts] {hosts} worker host(s){' + partition' if cut_at else ''}: {deposits} deposits ...")
            started = time.time()
            cut: dict[str, Any] = {}
            i = 0
            settle_deadline = time.monotonic() + max(900.0, deposits * 3.0)
            last = time.monotonic()
            while time.monotonic() < settle_deadline:
                while i < deposits and time.time() >= started + i / DEPOSIT_RATE:
                    amount = (100 + i % 900) * 1_000_000
                    admin("mint", {"address": addresses[i], "amount": amount})
                    plan[addresses[i]] = amount
                    i += 1
                if i >= deposits or time.monotonic() - last > 2:
                    sweeps = ledger.sweeps(limit=100_000)
                    done = sum(1 for s in sweeps if s.state in terminal)
                    confirmed = sum(1 for s in sweeps if s.state is SweepState.CONFIRMED)
                    last = time.monotonic()
                    if cut_at is not None and not cut and confirmed >= cut_at * deposits:
                        open_now = [s.id for s in sweeps if s.state not in terminal]
                        _ip(HOSTS[hosts - 1], "link", "set", f"swv{hosts}i", "down")
                        cut = {
                            "at_s": round(time.time() - started, 1),
                            "confirmed": confirmed,
                            "open": len(open_now),
                        }
                        say(f"[hosts]   cut {HOSTS[hosts - 1]}: {confirmed} confirmed, {len(open_now)} open")
                    if i >= deposits and len(sweeps) >= deposits and done == len(sweeps):
                        break
                time.sleep(0.05)
            finished = time.time()
            sweeps = ledger.sweeps(limit=100_000)
            _stop(procs)
            found = audit(devnet, ledger, plan, hot)
            ledger.engine.dispose()
        finally:
            _stop(procs)
            devnet.stop()
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    confirmed_s = [s for s in sweeps if s.state is SweepState.CONFIRMED]
    done_at = sorted(s.updated_at.timestamp() for s in confirmed_s)
    low, high = int(len(done_at) * 0.1), int(len(done_at) * 0.9) - 1
    steady = (high - low) / max(done_at[high] - done_at[low], 1e-9) * 60 if high > low else 0.0
    # The whole run, first deposit to last confirmation: sweeps paced by the chain confirm in clusters,
    # so the rate between the 10th and 90th percentile confirmations overstates what the hosts sustain.
    whole = len(done_at) / max(done_at[-1] - started, 1e-9) * 60 if done_at else 0.0
    states: dict[str, int] = {}
    for s in sweeps:
        states[s.state.value] = states.get(s.state.value, 0) + 1
    return {
        "hosts": hosts,
        "deposits": deposits,
        "confirmed": len(confirmed_s),
        "states": states,
        "sweeps_per_min": round(whole, 1),
        "steady_per_min": round(steady, 1),
        "seconds": round(finished - started, 1),
        "latency_s_p50": round(percentile([s.updated_at.timestamp() - started for s in confirmed_s], 50), 1)
        if confirmed_s
        else None,
        "cut": cut,
        "invariants": {"swept": found.swept, "duplicates": found.duplicates, "problems": found.problems[:20]},
    }


def inner(out: Path) -> None:
    from bench.common import quiet_logs

    quiet_logs()
    deposits = scaled(1000, 60)
    runs = []
    base = BENCH_DIR / "out" / "hosts"
    shutil.rmtree(base, ignore_errors=True)
    for n in (1, 2, 3):
        workdir = base / f"{n}-hosts"
        workdir.mkdir(parents=True)
        runs.append(one_run(n, deposits, workdir))
        say(f"[hosts]   {runs[-1]['sweeps_per_min']}/min, {runs[-1]['confirmed']}/{deposits} confirmed")
    workdir = base / "partition"
    workdir.mkdir(parents=True)
    partition = one_run(3, deposits, workdir, cut_at=1 / 3)
    say(
        f"[hosts]   partition: {partition['confirmed']}/{deposits} confirmed, "
        f"invariant problems: {partition['invariants']['problems'] or 'none'}"
    )
    one = runs[0]["sweeps_per_min"] or 1e-9
    out.write_text(
        json.dumps(
            {
                "host_cpu_cores": HOST_CPU,
                "deposit_rate_per_s": DEPOSIT_RATE,
                "runs": runs,
                "scaling": [round(r["sweeps_per_min"] / one, 2) for r in runs],
                "partition": partition,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--inner":
        inner(Path(sys.argv[2]))
    else:
        raise SystemExit("python -m bench hosts")
