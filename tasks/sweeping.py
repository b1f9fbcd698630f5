"""Sweep tasks: thin wrappers that load by id, call the domain, and schedule the next look."""

from __future__ import annotations

import reprlib
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from celery.signals import worker_process_init
from tronpy.keys import is_base58check_address

from sweeper.errors import InvalidAddress, PermanentError, SweepFailed
from sweeper.models import SweepState
from tasks.decorator import sweeper_task
from tasks.runtime import Runtime, reset_runtime, runtime

log = structlog.get_logger("sweeper.tasks")

NEXT_KEY = "sweeper:next-advance:{}"
RECONCILE_GRACE_S = 30.0
MAX_SWEEP_ID = 2**63 - 1  # ids are BIGINT: a larger number cannot name a sweep (and breaks the driver)
MAX_RECONCILE_LIMIT = 10_000
NEW_WORK_PRIORITY = 6
"""The message priority of a sweep not yet in flight (DETECTED): with Redis, whose consumers serve
priority 0 first (kombu lists each queue once per priority step, 0 3 6 9, and BRPOPs them in that order),
a backlog of new deposits never delays the next look of a sweep whose energy is paid for and lapsing.
Brokers without priorities (RabbitMQ without ``x-max-priority``, the embedded SQL one) ignore it."""


@worker_process_init.connect
def _fresh_runtime(**_: Any) -> None:
    """Each forked worker process builds its own clients and connections."""
    reset_runtime()


def as_sweep_id(value: Any) -> int:
    """Task arguments come from JSON (and from people, via Flower): accept ints only."""
    if isinstance(value, bool):
        raise PermanentError(f"sweep id must be an integer, got {value!r}", reason="bad_argument")
    try:
        sweep_id = int(value)
    except (TypeError, ValueError, OverflowError):
        raise PermanentError(
            f"sweep id must be an integer, got {reprlib.repr(value)}", reason="bad_argument"
        ) from None
    if sweep_id <= 0 or sweep_id > MAX_SWEEP_ID or str(sweep_id) != str(value).strip():
        raise PermanentError(
            f"sweep id must be a positive integer below 2**63, got {reprlib.repr(value)}",
            reason="bad_argument",
        )
    return sweep_id


def as_limit(value: Any) -> int:
    """A batch size, clamped to 1..MAX_RECONCILE_LIMIT; anything but an integer is refused."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError
        limit = int(value)
    except (TypeError, ValueError):
        raise PermanentError(
            f"limit must be an integer, got {reprlib.repr(value)}", reason="bad_argument"
        ) from None
    return max(1, min(limit, MAX_RECONCILE_LIMIT))


def as_address(value: Any) -> str:
    """A base58check TRON address, or a clear error naming what was given."""
    text = str(value).strip() if isinstance(value, str) else ""
    try:
        ok = bool(text) and bool(is_base58check_address(text))
    except ValueError:
        ok = False
    if not ok:
        raise InvalidAddress(f"{str(value)[:64]!r} is not a valid TRON address")
    return text


def schedule_advance(rt: Runtime, sweep_id: int, countdown: float = 0.0, *, new: bool = False) -> None:
    """Enqueue ``advance``; with Redis, a newer schedule supersedes older ones so chains never multiply.

    ``new``: the sweep has ordered nothing yet, so its message waits behind those of sweeps in flight.
    """
    token = uuid.uuid4().hex
    if rt.redis is not None:
        ttl = int(countdown) + 3600
        rt.redis.set(NEXT_KEY.format(sweep_id), token, ex=ttl)
    options: dict[str, Any] = {"priority": NEW_WORK_PRIORITY} if new else {}
    advance.apply_async(
        kwargs={"sweep_id": sweep_id, "token": token}, countdown=max(0.0, countdown), **options
    )


def _superseded(rt: Runtime, sweep_id: int, token: str | None) -> bool:
    if token is None or rt.redis is None:
        return False
    current = rt.redis.get(NEXT_KEY.format(sweep_id))
    return isinstance(current, bytes) and current.decode() != token


@sweeper_task("sweeper.advance")
def advance(sweep_id: Any, token: str | None = None, **_: Any) -> dict[str, Any]:
    """Move one sweep forward as far as it can go now; re-enqueue itself while the sweep waits."""
    sid = as_sweep_id(sweep_id)
    rt = runtime()
    if _superseded(rt, sid, token):
        return {"ok": True, "sweep_id": sid, "superseded": True, "idle": True}
    step = rt.flow.advance(sid)
    if step.retry_in is not None:
        schedule_advance(rt, sid, step.retry_in, new=step.state is SweepState.DETECTED)
    # A deposit that arrived after this sweep was signed, or the sweep woken to take the slot this one
    # left in flight: at full priority, so the woken one is not behind the backlog it waited in.
    for follow_up in step.opened:
        schedule_advance(rt, follow_up)
    if step.state is SweepState.FAILED and step.began is not SweepState.FAILED:
        failed = rt.ledger.get_sweep(sid)  # this run ended it: a failure for Flower, not a SUCCESS
        why = failed.reason if failed is not None and failed.reason else "failed"
        raise SweepFailed(f"sweep {sid} FAILED: {why}", reason=why)
    result: dict[str, Any] = {
        "ok": True,
        "sweep_id": sid,
        "state": step.state.value,
        "retry_in": step.retry_in,
    }
    if step.opened:
        result["opened"] = list(step.opened)
    return result


@sweeper_task("sweeper.sweep_address")
def sweep_address(address: Any, **_: Any) -> dict[str, Any]:
    """Check one deposit address for every configured token and start a sweep where one is due."""
    addr = as_address(address)
    rt = runtime()
    if rt.ledger.get_address(addr) is None:
        raise PermanentError(f"{addr} is not a watched deposit address", reason="not_watched")
    opened: list[int] = []
    for contract in rt.flow.config.tokens:
        sweep = rt.flow.detect(addr, contract, record_dust=True)
        if sweep is not None:
            opened.append(sweep.id)
            schedule_advance(rt, sweep.id, new=True)
    return {"ok": True, "address": addr, "sweeps": opened}


@sweeper_task("sweeper.reconcile")
def reconcile(limit: Any = 500, **_: Any) -> dict[str, Any]:
    """Re-enqueue open sweeps whose deadline passed: a lost message only delays, never strands.

    Also takes back delegated stake of ended sweeps whose own reclaim failed or came too early.
    """
    size = as_limit(limit)
    rt = runtime()
    cutoff = datetime.fromtimestamp(rt.flow.clock() - RECONCILE_GRACE_S, tz=UTC)  # the ledger's clock
    due = rt.ledger.due_sweeps(cutoff, limit=size)
    for sweep in due:
        schedule_advance(rt, sweep.id, new=sweep.state is SweepState.DETECTED)
    reclaimed = rt.flow.reclaim_ended(limit=size)  # stake an ended sweep could not take back at once
    return {"ok": True, "requeued": len(due), "reclaimed": reclaimed, "idle": not (due or reclaimed)}


@sweeper_task("sweeper.retry")
def retry(sweep_id: Any, **_: Any) -> dict[str, Any]:
    """Re-open a FAILED sweep and start it again (also `sweeper retry SWEEP_ID`)."""
    sid = as_sweep_id(sweep_id)
    rt = runtime()
    if not rt.flow.retry(sid):
        raise PermanentError(f"sweep {sid} is not FAILED", reason="not_failed")
    schedule_advance(rt, sid, new=True)
    return {"ok": True, "sweep_id": sid}


def enqueue_advance(sweep_id: int) -> None:
    """For the callback receiver: look at this sweep now."""
    schedule_advance(runtime(), sweep_id)
