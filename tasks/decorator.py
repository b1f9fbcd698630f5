"""The one task decorator: it owns every Celery default so no task repeats options."""

from __future__ import annotations

import functools
import inspect
import random
import time
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar, Unpack

import structlog
from celery import Task

from sweeper.errors import PermanentError, SweepFailed, TransientError
from tasks.app import app

log = structlog.get_logger("sweeper.tasks")

F = TypeVar("F", bound=Callable[..., Any])

MAX_RETRIES = 60
BACKOFF_CAP_S = 300.0
MAX_RETRY_AFTER_S = 3600.0
"""A ``Retry-After`` is honoured up to this long (a daily quota may name hours; reconcile covers that)."""


def backoff(retries: int, base: float = 2.0, cap: float = BACKOFF_CAP_S) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * (2**retries)))


class TaskOptions(TypedDict, total=False):
    """The Celery options a task may set on top of the shared defaults."""

    soft_time_limit: int
    time_limit: int


def sweeper_task(name: str, **options: Unpack[TaskOptions]) -> Callable[[F], Task[..., Any]]:
    """Register ``fn`` as task ``name``: late acks, requeue on worker loss, retry transient errors.

    Permanent errors are not retried: they are logged and returned as a small JSON result, so a bad
    argument from Flower or the CLI gets a clear answer and changes nothing. ``SweepFailed`` (this
    task moved a sweep to FAILED) is raised instead, declared in ``throws``: Flower shows the task as
    FAILURE, and Celery logs it without a traceback.

    Each run writes one canonical line (``task.done``, ``task.retry``, ``task.rejected`` or
    ``task.failed``) with its duration; a run that found nothing to do (``"idle": True`` in its result,
    a scan of no new deposits) logs at DEBUG.
    """

    def decorate(fn: F) -> Task[..., Any]:
        signature = inspect.signature(fn)

        @app.task(
            name=name,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            max_retries=MAX_RETRIES,
            throws=(SweepFailed,),
            **options,
        )
        @functools.wraps(fn)
        def run(self: Task[..., Any], *args: Any, **kwargs: Any) -> Any:
            structlog.contextvars.bind_contextvars(task=name, task_id=self.request.id)
            started = time.monotonic()

            def took() -> float:
                return round(time.monotonic() - started, 3)

            try:
                try:
                    signature.bind(*args, **kwargs)
                except TypeError as exc:  # missing or surplus arguments (Flower, an old client)
                    raise PermanentError(f"{name}: {exc}", reason="bad_argument") from None
                result = fn(*args, **kwargs)
                idle = isinstance(result, dict) and result.get("idle") is True
                (log.debug if idle else log.info)("task.done", result=result, seconds=took())
                return result
            except TransientError as exc:
                delay = max(backoff(self.request.retries), min(exc.retry_after or 0.0, MAX_RETRY_AFTER_S))
                log.info(
                    "task.retry", reason=exc.reason, error=str(exc), retry_in=round(delay, 2), seconds=took()
                )
                raise self.retry(exc=exc, countdown=delay) from None
            except SweepFailed as exc:
                log.warning("task.failed", reason=exc.reason, error=str(exc), seconds=took())
                raise
            except PermanentError as exc:
                log.warning("task.rejected", reason=exc.reason, error=str(exc), seconds=took())
                return {"ok": False, "reason": exc.reason, "error": str(exc)}
            finally:
                structlog.contextvars.clear_contextvars()

        return run

    return decorate
