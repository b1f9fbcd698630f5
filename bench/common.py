"""What every benchmark shares: the size scale, the machine description, RSS, and the devnet process."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
"""Multiplies every benchmark size (BENCH_SCALE=0.1 for a quick run); 1 is the issue's sizes."""
BENCH_DIR = Path(__file__).resolve().parent
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRX = 1_000_000


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, round(n * SCALE))


def quiet_logs() -> None:
    """The sweeper logs INFO lines per step; a benchmark must not measure its own terminal."""
    from config.logging import configure_logging

    configure_logging("json", "WARNING")


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS and Python: what RESULTS.md states the numbers were measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "memory_gb": round(mem_gb, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def rss_mb(pid: int) -> float:
    """Resident set size of one process, in MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


def children_of(pid: int) -> list[int]:
    """Direct child pids (a Celery worker's pool processes)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class DevnetProcess:
    """``python -m bench.devnet_node`` as a child process; ``info`` holds its ready file's content."""

    def __init__(self, *args: str, timeout: float = 300.0) -> None:
        self.args = list(args)
        self.timeout = timeout
        self.info: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="bench-devnet-")
        self.http = httpx.Client(timeout=60)

    @property
    def node_url(self) -> str:
        return str(self.info["node_url"])

    def provider_url(self, name: str) -> str:
        return str(self.info["providers"][name])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> DevnetProcess:
        ready = Path(self._dir.name) / "ready.json"
        log = open(Path(self._dir.name) / "devnet.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.devnet_node", "--ready-file", str(ready), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=BENCH_DIR.parent,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.timeout
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (Path(self._dir.name) / "devnet.log").read_text(errors="replace")[-2000:]
                self.__exit__(None, None, None)
                raise RuntimeError(f"bench devnet did not start: {tail}")
            time.sleep(0.1)
        self.info = json.loads(ready.read_text())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._dir.cleanup()

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST to the devnet's admin API (``/devnet/<path>``); raises on an error answer."""
        resp = self.http.post(self.node_url + "devnet/" + path, json=body or {})
        resp.raise_for_status()
        return resp.json()

    def admin_get(self, path: str) -> Any:
        resp = self.http.get(self.node_url + "devnet/" + path)
        resp.raise_for_status()
        return resp.json()

    def node(self, path: str, body: dict[str, Any]) -> Any:
        """A node API call (``/wallet/...``) without tronpy, for facts the benchmark itself needs."""
        resp = self.http.post(self.node_url + path, json=body)
        resp.raise_for_status()
        return resp.json()


class PrivateRedis:
    """A redis-server of the benchmark's own: the shared one carries other suites' queues and locks."""

    def __init__(self, workdir: Path) -> None:
        from tasks.processes import free_port

        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> PrivateRedis:
        import redis

        log = open(self.workdir / "redis.log", "ab")
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        try:
            while True:
                try:
                    if client.ping():
                        break
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(
                        "the benchmark's redis-server did not start (is redis-server installed?)"
                    )
                time.sleep(0.05)
        finally:
            client.close()
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def say(text: str) -> None:
    """Progress on stdout, flushed (a benchmark's output is often piped to a file)."""
    print(text, flush=True)


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    """Pids of processes whose command name is ``name`` (e.g. the PostgreSQL backends)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class LoadMeter:
    """CPU used from now on by this process, the devnet, and everything else on the machine."""

    def __init__(self, devnet_pid: int) -> None:
        self._devnet_pid = devnet_pid
        self._start = self._snapshot()

    def _snapshot(self) -> dict[str, float]:
        return {
            "sweeper": cpu_seconds(os.getpid()),
            "devnet": cpu_seconds(self._devnet_pid),
            "machine": machine_cpu_seconds(),
        }

    def cores(self, elapsed: float) -> dict[str, float]:
        """Average cores busy over ``elapsed`` seconds: sweeper, devnet, others (the rest of the machine)."""
        now = self._snapshot()
        used = {k: (now[k] - self._start[k]) / max(elapsed, 1e-9) for k in now}
        used["others"] = max(0.0, used["machine"] - used["sweeper"] - used["devnet"])
        return {k: round(v, 2) for k, v in used.items()}
