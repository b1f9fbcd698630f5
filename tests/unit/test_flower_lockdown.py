"""Flower's lockdown: which credentials it refuses, and the URL table it serves (tasks/flower.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flower.api.tasks import TaskApply, TaskAsyncApply, TaskSend
from flower.urls import handlers as stock

import tasks
from tasks.flower import OPERATOR_TASKS, credential_problems, locked_handlers, run

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "nocolon", ":pw-long-enough", "admin:admin", "admin:change-me", "ops:ops", "ops:short"],
)
def test_missing_default_placeholder_or_short_credentials_are_refused(value: str | None) -> None:
    problems = credential_problems(value)
    assert problems
    if value and ":" in value:
        assert all(value.partition(":")[2] not in p for p in problems)  # a password is never repeated


def test_real_credentials_are_accepted() -> None:
    assert credential_problems("operator:a-long-random-password,second:another-long-one") == []


def test_the_operator_tasks_exist_under_those_names() -> None:
    sources = "".join(p.read_text() for p in Path(tasks.__file__).parent.glob("*.py"))
    names = set(re.findall(r'@sweeper_task\("([a-z_.]+)"', sources))
    assert names >= OPERATOR_TASKS and "sweeper.advance" in names - OPERATOR_TASKS


def _table() -> dict[str, type]:
    out = {}
    for handler in locked_handlers():
        pattern = handler.regex.pattern if hasattr(handler, "regex") else handler[0]
        out[pattern] = handler.handler_class if hasattr(handler, "handler_class") else handler[1]
    return out


def test_apply_is_limited_and_every_control_command_is_disabled() -> None:
    table = _table()
    assert len(table) == len(stock)
    assert table[r"/api/task/apply/(.+)"] is not TaskApply
    assert issubclass(table[r"/api/task/apply/(.+)"], TaskApply)
    assert issubclass(table[r"/api/task/async-apply/(.+)"], TaskAsyncApply)
    assert table[r"/api/task/async-apply/(.+)"] is not TaskAsyncApply
    disabled = table[r"/api/worker/shutdown/(.+)"]
    for pattern, target in table.items():
        if pattern.startswith(("/api/worker/shutdown", "/api/worker/pool", "/api/worker/queue")) or any(
            word in pattern for word in ("send-task", "rate-limit", "timeout", "revoke", "abort")
        ):
            assert target is disabled, pattern
    assert TaskSend not in table.values()


@pytest.mark.parametrize("value", [None, "admin:admin", "admin:change-me"])
def test_flower_does_not_start_without_real_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    else:
        monkeypatch.setenv("FLOWER_BASIC_AUTH", value)
    assert run("127.0.0.1", 5555, []) == 2  # returns before Flower (or the Celery app) is even imported
    err = capsys.readouterr().err
    assert "flower refused to start" in err and (value is None or value not in err)
