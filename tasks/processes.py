"""Start and stop the sweeper processes (workers, beat, receiver, Flower) for the demo and e2e tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

QUEUES = "scan,sweep"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProcessGroup:
    """Child processes sharing one environment; every child is stopped when the group stops."""

    env: Mapping[str, str]
    workdir: Path
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _spawn(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed when the child is reaped
        env = {**os.environ, **(self.env if env is None else env), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(  # noqa: S603 - argv is built here from constants
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd(), start_new_session=True
        )
        self.children[name] = proc
        return proc

    def worker(
        self, name: str, concurrency: int = 2, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A Celery worker on every queue (prefork pool, ``concurrency`` processes); ``env`` adds to the
        group's variables for this worker alone."""
        return self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasks.app",
                "worker",
                "-Q",
                QUEUES,
                "-c",
                str(concurrency),
                "-n",
                f"{name}@%h",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            {**self.env, **(env or {})},
        )

    def beat(self) -> subprocess.Popen[bytes]:
        schedule = self.workdir / "celerybeat-schedule"
        return self._spawn(
            "beat",
            [sys.executable, "-m", "celery", "-A", "tasks.app", "beat", "-s", str(schedule), "-l", "INFO"],
        )

    def web(self, port: int) -> subprocess.Popen[bytes]:
        proc = self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tasks.web:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
        )
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        return proc

    def flower(self, port: int, basic_auth: str) -> subprocess.Popen[bytes]:
        """``sweeper flower`` (locked down: operator tasks only, no worker control) on 127.0.0.1."""
        argv = [sys.executable, "-m", "tasks.cli", "flower", "--address", "127.0.0.1", "--port", str(port)]
        proc = self._spawn("flower", argv, {**self.env, "FLOWER_BASIC_AUTH": basic_auth})
        user, _, password = basic_auth.partition(":")
        wait_http(f"http://127.0.0.1:{port}/healthcheck", proc, auth=(user, password))
        return proc

    def signer(self, port: int, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """The signer service with an environment of its own: the only child given the keys."""
        argv = [sys.executable, "-m", "tasks.cli", "signer", "--host", "127.0.0.1", "--port", str(port)]
        proc = self._spawn("signer", argv, env)
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one child (and its pool processes) without letting it clean up."""
        proc = self.children[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 15
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.children.clear()

    def logs(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_http(
    url: str, proc: subprocess.Popen[bytes], *, auth: tuple[str, str] | None = None, timeout: float = 60.0
) -> None:
    """Block until ``url`` answers 200, or fail if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2, auth=auth).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")
