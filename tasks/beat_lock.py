"""A beat that is safe to run twice: only the holder of a Redis leader lock sends scheduled tasks.

During a deploy (or by mistake) two ``celery beat`` processes may run at once; each would send every
entry, doubling scans and reconciles. ``LeaderScheduler`` takes the lock ``sweeper:beat:leader`` with
``SET NX PX`` and renews it on every tick (well within its TTL) with a compare-and-renew script, so:

- while the leader runs, any other beat only retries the lock and sends nothing;
- when the leader stops, it deletes its lock (compare-and-delete) and another beat takes over at once;
  when it dies, the lock expires after ``SWEEPER_BEAT_LOCK_SECONDS`` and another takes over then (a beat
  on the same host sees at once that the holder's process is gone, e.g. a container restarted in place);
- a beat that cannot reach Redis cannot know it leads, so it sends nothing until it can.

A new leader starts every entry's interval afresh (no burst of catch-up sends). This is the pattern of
Redis' own single-instance lock (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
With a broker that is not Redis (the demo's SQLite broker) there is nothing to share a lock through, and
the scheduler is Celery's plain persistent one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from typing import Any

import redis
import structlog
from celery.beat import PersistentScheduler

log = structlog.get_logger("sweeper.beat")

LOCK_KEY = "sweeper:beat:leader"
DEFAULT_LOCK_SECONDS = 30.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class LeaderLock:
    """One holder at a time of ``key``, for ``ttl`` seconds after its last renewal."""

    def __init__(self, client: redis.Redis, ttl: float, key: str = LOCK_KEY) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._take_over = client.register_script(_TAKE_OVER)

    def hold(self) -> bool:
        """Renew the lock if it is ours, else take it if it is free or its holder is dead; True if ours."""
        if self._renew(keys=[self.key], args=[self.token, self.ttl_ms]):
            return True
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        holder = self.client.get(self.key)
        if isinstance(holder, bytes) and _dead_here(holder.decode(errors="replace")):
            return bool(self._take_over(keys=[self.key], args=[holder, self.token, self.ttl_ms]))
        return False

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])


def _dead_here(holder: str) -> bool:
    """True only when ``holder`` names a process of this host that no longer runs (a restarted beat).

    Another host's holder is never judged: its lock expires by itself. A live process, or one we may not
    signal, counts as alive.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # our own pid under another token: a process before us that had it, now gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LeaderScheduler(PersistentScheduler):
    """Celery's persistent scheduler, sending only while this beat holds the leader lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        conf = self.app.conf
        self.lock_seconds = float(conf.get("sweeper_beat_lock_seconds") or DEFAULT_LOCK_SECONDS)
        url = str(conf.broker_url or "")
        self.lock: LeaderLock | None = None
        if url.startswith(("redis://", "rediss://", "unix://")):
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            self.lock = LeaderLock(client, self.lock_seconds)
        self.leading = self.lock is None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.lock is None:
            return float(super().tick(*args, **kwargs))
        retry = self.lock_seconds / 3
        try:
            held = self.lock.hold()
        except redis.RedisError as exc:
            held = False
            log.warning("beat.lock_unavailable", error=type(exc).__name__)
        if held and not self.leading:
            now = self.app.now()
            for entry in self.schedule.values():
                entry.last_run_at = now  # start each interval afresh: no catch-up burst on takeover
            log.info("beat.leader", holder=self.lock.token)  # host:pid:random, no secret
        elif self.leading and not held:
            log.warning("beat.leadership_lost", holder=self.lock.token)
        self.leading = held
        if not held:
            return retry
        return min(float(super().tick(*args, **kwargs)), retry)

    def close(self) -> None:
        if self.lock is not None and self.leading:
            with contextlib.suppress(redis.RedisError):  # else it expires by itself
                self.lock.release()
        super().close()
