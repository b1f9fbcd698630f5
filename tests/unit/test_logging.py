"""Secrets never reach captured logs: the redaction processor masks them by key and by value."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from config.logging import configure_logging, redact_secrets, register_secrets

pytestmark = pytest.mark.unit


def test_values_under_secret_looking_keys_are_masked() -> None:
    event = redact_secrets(
        None, "info", {"event": "x", "api_secret": "s3cr3t!!", "headers": {"SIGNATURE": "abc", "ok": 1}}
    )
    assert event["api_secret"] == "***"
    assert event["headers"] == {"SIGNATURE": "***", "ok": 1}


def test_registered_secret_values_are_masked_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    configure_logging("json", "INFO")
    register_secrets(["abandon-abandon-mnemonic-words", None, "short"])
    structlog.get_logger().info("derived", note="seed is abandon-abandon-mnemonic-words here", items=["x"])
    line = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert "abandon-abandon-mnemonic-words" not in buf.getvalue()
    assert line["note"] == "seed is *** here"


def test_json_is_rendered_when_not_attached_to_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    configure_logging("auto", "INFO")
    structlog.get_logger().info("hello", sweep_id=7)
    assert json.loads(buf.getvalue().strip())["sweep_id"] == 7


def test_standard_library_records_are_json_lines_at_their_own_level(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    configure_logging("json", "INFO")
    logging.getLogger("celery.worker.consumer").info("Connected to %s", "redis://x")
    logging.getLogger("celery.beat").info("Scheduler: Sending due task scan-blocks (sweeper.scan_blocks)")

    lines = buf.getvalue().strip().splitlines()
    assert [json.loads(line)["level"] for line in lines] == ["info"]  # beat's tick is not shown at INFO
    assert json.loads(lines[0])["event"] == "Connected to redis://x"


def test_the_schedule_tick_is_a_debug_line(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    configure_logging("json", "DEBUG")
    logging.getLogger("celery.beat").info("Scheduler: Sending due task scan-blocks (sweeper.scan_blocks)")

    assert json.loads(buf.getvalue().strip())["level"] == "debug"


def test_a_level_that_is_no_level_is_refused() -> None:
    with pytest.raises(ValueError, match="verbose"):
        configure_logging("json", "verbose")


def test_log_lines_follow_stderr_when_a_progress_display_redirects_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sweep --local`` draws a spinner that redirects stderr: a log line prints above it, never over."""
    configure_logging("json", "INFO")
    redirected = io.StringIO()
    monkeypatch.setattr(sys, "stderr", redirected)  # what rich's Live does while it draws

    structlog.get_logger().info("sweep.step", sweep_id=3)

    assert json.loads(redirected.getvalue().strip())["sweep_id"] == 3


class _Writes:
    """A stderr that keeps each ``write`` call apart, as the kernel does for processes sharing a file."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_each_log_line_is_one_write_so_processes_sharing_stderr_never_splice_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Prefork children share the worker's stderr; unbuffered (``PYTHONUNBUFFERED``, the Dockerfile's
    setting) every ``write`` is a syscall, and a line written as text then "\\n" lets another process's
    line in between: two JSON objects on one line, which a log shipper drops or misparses."""
    writes = _Writes()
    monkeypatch.setattr(sys, "stderr", writes)
    configure_logging("json", "INFO")
    structlog.get_logger().info("sweep.advanced", sweep_id=1)
    logging.getLogger("celery.worker").warning("worker lost")
    assert len(writes.calls) == 2, writes.calls
    for call in writes.calls:
        assert call.endswith("\n") and call.count("\n") == 1, call
        json.loads(call)


_SPAM = """
import structlog, sys
from config.logging import configure_logging
configure_logging("json", "INFO")
log = structlog.get_logger()
for n in range(int(sys.argv[1])):
    log.info("sweep.advanced", sweep_id=n, note="x" * 200)
"""


def test_four_unbuffered_processes_on_one_stderr_file_write_only_whole_json_lines(tmp_path: Path) -> None:
    """The same, as it happens: four processes, one file, ``PYTHONUNBUFFERED=1``."""
    out = tmp_path / "shared.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    with out.open("w") as shared:
        procs = [
            subprocess.Popen([sys.executable, "-c", _SPAM, "3000"], stderr=shared, env=env) for _ in range(4)
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    lines = out.read_text().splitlines()
    assert len(lines) == 4 * 3000
    spliced = [line for line in lines if not _one_object(line)]
    assert not spliced, f"{len(spliced)} lines are not one JSON object, e.g. {spliced[0][:200]}"


def _one_object(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
