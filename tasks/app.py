"""The Celery application (`celery -A tasks.app worker|beat|flower`)."""

from __future__ import annotations

import sys
from functools import cached_property
from typing import Any

from celery import Celery
from celery.apps.beat import Beat
from celery.apps.worker import Worker
from celery.signals import setup_logging, worker_init

from config import broker
from config.celery import celery_settings
from config.logging import configure_logging
from config.settings import InvalidSettings, load_settings
from tasks import memory
from tasks.schedule import beat_schedule


def _json_logs() -> bool:
    """Whether this process logs JSON (``SWEEPER_LOG_FORMAT``, ``auto`` when stderr is no terminal)."""
    fmt = load_settings(without=frozenset({"destination", "energy"})).log_format
    return fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())


class _Worker(Worker):
    """The worker program, with no ASCII banner when the logs are JSON: every line stays an object."""

    def on_before_init(self, quiet: bool = False, **kwargs: Any) -> None:
        _our_logging()  # before Celery's privilege warning, so it too is a JSON line
        super().on_before_init(quiet=quiet or _json_logs(), **kwargs)


class _Beat(Beat):
    """Beat, with no banner when the logs are JSON."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["quiet"] = bool(kwargs.get("quiet")) or _json_logs()
        super().__init__(**kwargs)


class SweeperCelery(Celery):
    """Celery whose worker and beat programs print nothing but log lines when the logs are JSON."""

    @cached_property
    def Worker(self) -> Any:
        return self.subclass_with_self(_Worker)

    @cached_property
    def Beat(self) -> Any:
        return self.subclass_with_self(_Beat)


def create_app() -> Celery:
    """Build the app from SWEEPER_* settings; invalid settings stop start-up with one line per problem."""
    try:
        settings = load_settings()
    except InvalidSettings as exc:
        raise SystemExit(str(exc)) from None
    broker.install()  # kombu's Redis transport with one client per channel (config/broker.py)
    celery = SweeperCelery("sweeper", include=["tasks.sweeping", "tasks.scanning"])
    celery.conf.update(
        celery_settings(settings.broker_url, settings.result_backend, task_events=settings.task_events)
    )
    celery.conf.beat_schedule = beat_schedule(settings)
    celery.conf.beat_scheduler = "tasks.beat_lock:LeaderScheduler"  # safe to run twice (tasks/beat_lock.py)
    celery.conf.sweeper_beat_lock_seconds = settings.beat_lock_seconds
    memory.install(celery, settings.memory_trim_seconds)
    return celery


app = create_app()


@setup_logging.connect
def _our_logging(**_: Any) -> None:
    """Celery's own log format off: worker and beat write what every process writes (JSON in production).

    A receiver on this signal makes Celery leave logging alone, stdout and stderr included, so no JSON
    line is wrapped in Celery's plain-text format or relabelled WARNING.
    """
    try:
        settings = load_settings(without=frozenset({"destination", "energy"}))
    except InvalidSettings:
        return  # create_app and the worker's start-up check report it, one line per problem
    configure_logging(settings.log_format, settings.log_level)


@worker_init.connect
def _refuse_unready(**_: Any) -> None:
    """A worker that would buy energy for sweeps it can never finish does not start (tasks/startup.py)."""
    from sweeper.errors import ConfigError
    from tasks.startup import refuse_unless_ready

    try:
        refuse_unless_ready(load_settings())
    except (InvalidSettings, ConfigError) as exc:
        raise SystemExit(str(exc)) from None
