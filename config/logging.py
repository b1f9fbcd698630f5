"""structlog setup: console output in a terminal, JSON otherwise, with a processor that redacts secrets."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passphrase|mnemonic|private|priv_key|api_key|apikey|api_token|token|signature|"
    r"authorization|seed|key_ref)",
    re.IGNORECASE,
)
REDACTED = "***"

_known_secrets: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so they are masked wherever they appear in a log line."""
    for v in values:
        if v and len(v) >= 6:
            _known_secrets.add(v)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for s in _known_secrets:
            if s in value:
                value = value.replace(s, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_KEY_PATTERN.search(str(k)) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask values under secret-looking keys and any registered secret value anywhere in the event."""
    for key in list(event_dict):
        if SECRET_KEY_PATTERN.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


class _Stderr:
    """``sys.stderr`` looked up at each write, so a progress display that redirects it prints logs above."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


STDERR: Any = _Stderr()
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3")
"""One line per HTTP request is noise (and would carry provider URLs); our adapters log what matters."""
CELERY_PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")
"""Celery's own "received" / "succeeded in" lines: the task decorator writes the one canonical line per
task, so these speak only for warnings and errors (a task that raised, a worker lost)."""


class _Routine(logging.Filter):
    """Lines that say only "the schedule ticked" (beat's "Sending due task", every few seconds) are
    DEBUG lines, whatever level the library logs them at."""

    ROUTINE = (("celery.beat", "Scheduler: Sending due task"),)

    def filter(self, record: logging.LogRecord) -> bool:
        if any(record.name == name and str(record.msg).startswith(text) for name, text in self.ROUTINE):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def _level(level: str) -> int:
    number = logging.getLevelName(level.strip().upper())
    if not isinstance(number, int):
        raise ValueError(f"{level!r} is not a log level")
    return number


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """One processor chain for every process; console when attached to a terminal, JSON otherwise.

    The standard library's records (Celery's, Kombu's, uvicorn's) go through the same renderer, so a
    JSON deployment writes one JSON object per line whoever logs, at the record's own level.
    """
    number = _level(level)
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        # WriteLogger writes line and newline in one call (PrintLogger's print() makes two): prefork
        # children share the worker's stderr, and unbuffered each call is a syscall another process's
        # line can land between.
        logger_factory=structlog.WriteLoggerFactory(file=STDERR),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Routine())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    logging.captureWarnings(True)  # a Python warning is one log line too, not free text on stderr
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, number))
    for name in CELERY_PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, number))
