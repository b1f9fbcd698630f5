"""Secrets never reach captured logs: the redaction processor masks them by key and by value."""

from __future__ import annotations

import io
import json
import logging
import sys

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
