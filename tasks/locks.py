"""Per-address locks across worker processes: Redis in production, lock files for the embedded demo."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.exceptions import LockError
from redis.lock import Lock

from sweeper.errors import LockBusy

LOCK_TTL_S = 15.0
"""A held lock lives this long unless its holder renews it: a SIGKILLed worker's lock frees itself soon."""
RENEW_EVERY_S = LOCK_TTL_S / 3
WAIT_S = 3.0


class RedisLocks:
    """``hold(address)`` takes a Redis lock that expires on its own if the holder dies."""

    def __init__(self, client: redis.Redis, prefix: str = "sweeper:lock:") -> None:
        self._client = client
        self._prefix = prefix

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        # Not thread-local: the renewer thread must see the token the holder took.
        lock = self._client.lock(
            self._prefix + address, timeout=LOCK_TTL_S, blocking_timeout=WAIT_S, thread_local=False
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            raise LockBusy(f"lock store unavailable: {exc.__class__.__name__}") from None
        if not acquired:
            raise LockBusy(f"address {address} is being worked on by another worker")
        done = threading.Event()
        renewer = threading.Thread(target=_renew, args=(lock, done), name="lock-renewer", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            with contextlib.suppress(redis.RedisError):  # expired or store gone: the TTL freed it
                lock.release()


def _renew(lock: Lock, done: threading.Event) -> None:
    """Keep a held lock alive while its holder lives; a killed holder stops renewing and the TTL frees it."""
    while not done.wait(RENEW_EVERY_S):
        try:
            lock.reacquire()
        except LockError:
            return  # no longer ours (expired while Redis was away): the ledger's compare-and-set still guards
        except redis.RedisError:
            continue


class FileLocks:
    """``flock`` on one file per address: enough for processes on one machine (the embedded demo)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        name = hashlib.sha256(address.encode()).hexdigest()[:24]
        fd = os.open(self._dir / name, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            deadline = time.monotonic() + WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockBusy(f"address {address} is being worked on by another worker") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
