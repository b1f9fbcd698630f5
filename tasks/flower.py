"""``sweeper flower``: Flower locked down for operators (docs/SECURITY.md §6).

Flower as shipped lets anyone with its password apply *any* registered task (``celery.*`` included),
send arbitrary task names, shut workers down, resize their pools and change rate and time limits. This
launcher starts the same Flower with:

- credentials required: ``FLOWER_BASIC_AUTH`` (``user:password``, Flower's own variable) must be set, and
  a default or placeholder (``admin:admin``, ``change-me``, …) or a password under 12 characters is
  refused — Flower never starts without real credentials;
- bound to 127.0.0.1 unless ``--address`` says otherwise;
- apply and async-apply only for the operator tasks in ``OPERATOR_TASKS``; ``send-task`` (any name),
  task abort/revoke/rate-limit/timeout and every worker control command (shutdown, pool restart, grow,
  shrink, autoscale, queue consumers) answer 403. Monitoring (workers, tasks, results, queues, metrics)
  is unchanged.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from tasks.startup import PLACEHOLDER_SECRETS

OPERATOR_TASKS = frozenset({"sweeper.sweep_address", "sweeper.scan_blocks", "sweeper.retry"})
"""The tasks an operator may apply through Flower (``tasks/sweeping.py``, ``tasks/scanning.py``)."""
WEAK_PASSWORDS = frozenset({"admin", "password", "flower", "secret", "celery", *PLACEHOLDER_SECRETS})
MIN_PASSWORD = 12
DISABLED = (
    "/api/worker/shutdown/",
    "/api/worker/pool/",
    "/api/worker/queue/",
    "/api/task/send-task/",
    "/api/task/abort/",
    "/api/task/timeout/",
    "/api/task/rate-limit/",
    "/api/task/revoke/",
)


def credential_problems(basic_auth: str | None) -> list[str]:
    """Why ``FLOWER_BASIC_AUTH`` may not protect Flower; empty when it may. Never repeats a password."""
    if not basic_auth or not basic_auth.strip():
        return ["FLOWER_BASIC_AUTH is not set: Flower never starts without credentials (user:password)"]
    problems = []
    for n, pair in enumerate(basic_auth.split(","), start=1):
        user, sep, password = pair.partition(":")
        if not sep or not user or not password:
            problems.append(f"FLOWER_BASIC_AUTH entry {n} is not user:password")
        elif password.lower() in WEAK_PASSWORDS or password.lower() == user.lower():
            problems.append(f"FLOWER_BASIC_AUTH entry {n} uses a default or placeholder password")
        elif len(password) < MIN_PASSWORD:
            problems.append(
                f"FLOWER_BASIC_AUTH entry {n} ({user}): the password needs {MIN_PASSWORD}+ characters"
            )
    return problems


def locked_handlers() -> list[Any]:
    """Flower's URL table with apply limited to the operator tasks and every control command disabled."""
    from flower.api.tasks import TaskApply, TaskAsyncApply
    from flower.urls import handlers
    from tornado.web import HTTPError, RequestHandler

    class Disabled(RequestHandler):
        def prepare(self) -> None:
            raise HTTPError(403, "disabled in sweeper's Flower: use the sweeper CLI (docs/SECURITY.md)")

    class OperatorApply(TaskApply):  # type: ignore[misc]
        async def post(self, taskname: str) -> None:
            if taskname not in OPERATOR_TASKS:
                raise HTTPError(403, f"only {', '.join(sorted(OPERATOR_TASKS))} may be applied here")
            await super().post(taskname)

    class OperatorAsyncApply(TaskAsyncApply):  # type: ignore[misc]
        async def post(self, taskname: str) -> None:
            if taskname not in OPERATOR_TASKS:
                raise HTTPError(403, f"only {', '.join(sorted(OPERATOR_TASKS))} may be applied here")
            await super().post(taskname)

    replaced = {TaskApply: OperatorApply, TaskAsyncApply: OperatorAsyncApply}
    out: list[Any] = []
    for handler in handlers:
        pattern = handler.regex.pattern if hasattr(handler, "regex") else handler[0]
        target = handler.handler_class if hasattr(handler, "handler_class") else handler[1]
        if any(pattern.startswith(prefix) for prefix in DISABLED):
            out.append((pattern, Disabled))
        elif target in replaced:
            out.append((pattern, replaced[target]))
        else:
            out.append(handler)
    return out


def run(address: str, port: int, extra: list[str]) -> int:
    """Start the locked-down Flower in this process; 2 without acceptable credentials."""
    problems = credential_problems(os.environ.get("FLOWER_BASIC_AUTH"))
    if problems:
        for problem in problems:
            print(f"flower refused to start: {problem}", file=sys.stderr, flush=True)
        return 2
    import flower.app

    flower.app.default_handlers = locked_handlers()  # Flower builds its Application from this table
    from tasks.app import app

    argv = ["flower", f"--address={address}", f"--port={port}", *extra]
    app.start(argv)  # Celery's own `celery flower` command, with FLOWER_BASIC_AUTH read by Flower
    return 0


def flower_cmd(
    address: Annotated[
        str, typer.Option(help="Interface to bind (compose: 0.0.0.0 inside the container).")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 5555,
) -> None:
    """Run Flower locked down: credentials required (FLOWER_BASIC_AUTH), only operator tasks applicable."""
    raise typer.Exit(run(address, port, []))


def register(app: typer.Typer) -> None:
    app.command("flower")(flower_cmd)
