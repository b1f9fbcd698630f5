"""What every chaos scenario shares: a site with real sweeper processes, deposits, settling, evidence.

A scenario starts the sweeper's real processes (``tasks.processes.ProcessGroup``: Celery workers, beat,
optionally the callback receiver) against a fast devnet, mints deposits, injects its fault, waits for
every deposit to settle, and ends with ``check_invariants``. The helpers never drive a sweep themselves.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from devnet.server import Devnet
from sweeper.ledger.records import Sweep
from sweeper.models import TERMINAL_STATES
from tasks.processes import ProcessGroup, free_port
from tests.chaos.invariants import Audit, check_invariants
from tests.e2e.helpers import TRX, USDT, Site, wait_for

__all__ = ["TRX", "USDT", "Chaos", "NodeLink", "PrivateRedis", "failpoint_count"]

SETTLE_TIMEOUT = 150.0


class PrivateRedis:
    """A redis-server of this scenario's own (no persistence): restarting it disturbs nobody else.

    Every Redis database on the shared server is some suite's or benchmark's broker, and deposit
    addresses derive from the same devnet mnemonic everywhere, so address locks would collide too.
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            wait_for(lambda: _pings(client), 15, "the private redis-server to answer", interval=0.05)
        finally:
            client.close()
        return self

    def kill(self) -> None:
        """SIGKILL the server: every queued message, lock and schedule token is lost with it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@dataclass
class Chaos:
    """One scenario's world: the site (devnet, ledger, hot wallet), its processes and its deposits."""

    site: Site
    processes: ProcessGroup
    redis: PrivateRedis
    plan: dict[str, int] = field(default_factory=dict)
    untouched: dict[str, int] = field(default_factory=dict)
    env_extra: dict[str, str] = field(default_factory=dict)
    workers: list[str] = field(default_factory=list)
    web_port: int | None = None
    next_index: int = 0

    @property
    def devnet(self) -> Devnet:
        return self.site.devnet

    def configure(self, *, order: str = "itrx,ea888fee,tronzap", web: bool = False, **extra: str) -> None:
        """Set the processes' environment (call before starting any of them)."""
        callback = None
        if web:
            self.web_port = free_port()
            callback = f"http://127.0.0.1:{self.web_port}"
        self.env_extra.update(extra)
        env = self.site.env(self.redis.url, order=order, callback_public_url=callback, extra=self.env_extra)
        self.processes.env = env

    def start(self, workers: int = 2, concurrency: int = 2, *, beat: bool = True) -> None:
        """Start the receiver (if configured), ``workers`` Celery workers and beat."""
        if self.web_port is not None:
            self.processes.web(self.web_port)
        for i in range(workers):
            self.worker(f"w{i + 1}", concurrency)
        if beat:
            self.processes.beat()

    def worker(self, name: str, concurrency: int = 2) -> None:
        self.processes.worker(name, concurrency=concurrency)
        if name not in self.workers:
            self.workers.append(name)

    def restart(self, name: str, concurrency: int = 2) -> None:
        """SIGKILL a process group (no clean-up at all) and start it again under the same name."""
        self.processes.kill(name)
        if name == "beat":
            self.processes.beat()
        else:
            self.processes.worker(name, concurrency=concurrency)

    def deposit(self, count: int, *, activated: int, base: int = 20) -> list[str]:
        """Watch ``count`` new addresses, put 1 TRX on the first ``activated``, then mint USDT to all."""
        addresses = self.site.deposits(count, start=self.next_index)
        for address in addresses[:activated]:
            self.devnet.chain.fund(address, 1 * TRX)
        self.devnet.chain.produce_blocks(1)
        for i, address in enumerate(addresses):
            amount = (base + self.next_index + i) * USDT
            self.devnet.chain.mint(address, amount)
            self.plan[address] = amount
        self.next_index += count
        return addresses

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> dict[str, list[Sweep]]:
        """Wait until every deposit has a sweep and every sweep is terminal (dumps logs on timeout)."""
        addresses = list(self.plan) + list(self.untouched)
        try:
            return self.site.settled(addresses, timeout)
        except AssertionError:
            self.dump("settle timed out")
            raise

    def check(self) -> Audit:
        """Every safety invariant; on failure the process logs are attached to the report."""
        try:
            return check_invariants(
                self.devnet, self.site.ledger, self.plan, self.site.hot, untouched=self.untouched
            )
        except AssertionError:
            self.dump("invariants violated")
            raise

    def open_sweeps(self) -> list[Sweep]:
        return [s for s in self.site.ledger.sweeps(limit=100_000) if s.state not in TERMINAL_STATES]

    def wait_for_state(self, predicate: Callable[[Sweep], bool], what: str, timeout: float = 60.0) -> Sweep:
        """Wait until some sweep satisfies ``predicate``; returns it."""

        def check() -> Sweep | None:
            return next((s for s in self.site.ledger.sweeps(limit=100_000) if predicate(s)), None)

        try:
            found = wait_for(check, timeout, what, interval=0.1)
        except AssertionError:
            self.dump(what)
            raise
        assert found is not None
        return found

    def dump(self, why: str) -> None:
        """Print the tail of every process log and the open sweeps (pytest shows it on failure)."""
        print(f"---- {why}: open sweeps ----")
        for s in self.open_sweeps():
            print(s.id, s.address, s.state.value, s.reason, s.order_no, s.txid)
            for h in self.site.ledger.history(s.id):
                print("    ", h.from_state, "->", h.to_state, h.reason, h.detail.get("note"))
        for name in [*self.workers, "beat", "web"]:
            text = self.processes.logs(name)
            interesting = [
                line
                for line in text.splitlines()
                if any(k in line for k in ("Error", "error", "warning", "Traceback", "failpoint", "rejected"))
            ]
            print(f"---- {name} (last interesting lines) ----")
            print("\n".join(interesting[-60:]))


def failpoint_count(marker: Path) -> int:
    """How many failpoints fired in this run (one marker file each)."""
    return len(list(marker.iterdir())) if marker.exists() else 0


class NodeLink:
    """A TCP forwarder between the workers and the devnet node: ``down()`` is the node gone from the
    network (connections refused, open ones cut) while the chain itself keeps producing blocks."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._guard = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def up(self) -> NodeLink:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._guard:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._guard:
                self._conns.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._guard:
                self._conns.discard(src)
            src.close()  # the opposite pump sees the shutdown and closes the other end
