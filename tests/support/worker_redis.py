"""A redis-server per pytest-xdist worker, so suites running side by side never share a broker database.

Every suite keeps to its own database number on one server; two xdist workers running two files that
picked the same number (or flushing theirs) would see each other's queues and locks. Each worker
therefore starts a server of its own before any fixture module reads ``SWEEPER_TEST_REDIS_PORT``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_for_xdist_worker() -> int | None:
    """Under an xdist worker, start its own redis-server and point the suites at it; its port or None."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or shutil.which("redis-server") is None:
        return None
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix=f"sweeper-redis-{worker}-")
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*argv, "--dir", workdir, "--databases", "32"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(_stop, proc)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 15
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the redis-server of xdist worker {worker} did not start") from None
                time.sleep(0.05)
    finally:
        client.close()
    os.environ["SWEEPER_TEST_REDIS_PORT"] = str(port)
    return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
