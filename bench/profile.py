"""A py-spy profile of the worker's pool processes during an end-to-end run, split by what the time went to.

``BENCH_PROFILE=1`` makes each end-to-end run record one (``py-spy record --subprocesses``, raw
collapsed stacks); every sample is charged to the innermost frame that belongs to a known layer (the
JSON decoder inside ``httpx`` counts as JSON, ``httpx`` or ``urllib3`` inside the flow as HTTP), so the
split says which lever can move the worker's CPU.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

RATE_HZ = 67
"""Samples per second per process: enough for shares to 1 %, little enough not to load the cores."""

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JSON", ("(json/", "orjson", "(kombu/utils/json", "sweeper/chain/codec")),
    ("logging", ("(structlog/", "(logging/")),
    ("Celery events", ("(celery/events/", "(kombu/pidbox")),
    (
        "HTTP client (httpx, urllib3)",
        ("(httpx/", "(httpcore/", "(h11/", "(urllib3/", "(http/client.py", "(ssl.py", "(socket.py"),
    ),
    ("SQL (SQLAlchemy, psycopg)", ("(sqlalchemy/", "(psycopg")),
    ("tronpy (tx build, ABI, keys)", ("(tronpy/", "(coincurve/", "(Crypto/", "(eth_abi/", "(base58")),
    ("Redis client", ("(redis/",)),
    ("Celery and kombu (tasks, publish, ack)", ("(celery/", "(kombu/", "(billiard/", "(vine/")),
    ("pydantic", ("(pydantic",)),
    ("sweeper domain", ("(sweeper/", "(tasks/", "(config/")),
)
"""py-spy names a frame ``function (package/module.py:line)``; a sample goes to its innermost layer."""


class Profiler:
    """``py-spy record`` on ``pid`` and its children until :meth:`stop`; a no-op without py-spy."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.proc: subprocess.Popen[bytes] | None = None
        if Path(exe).exists():
            # --gil: only samples holding the GIL, i.e. Python running, not a socket wait
            argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--gil", "--format", "raw"]
            argv += ["--rate", str(RATE_HZ), "--nonblocking", "--output", str(out)]
            log = open(out.with_suffix(".log"), "wb")  # noqa: SIM115 - lives as long as py-spy
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> dict[str, Any]:
        """Stop recording and return the split (empty if nothing was recorded)."""
        if self.proc is None:
            return {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return split(self.out) if self.out.exists() else {}


def layer_of(stack: str) -> str:
    """The layer of the innermost frame that belongs to one (``other`` if none does)."""
    for frame in reversed(stack.split(";")):
        for name, needles in LAYERS:
            if any(n in frame for n in needles):
                return name
    return "other (interpreter, stdlib)"


def split(path: Path) -> dict[str, Any]:
    """Shares of the samples by layer, from py-spy's raw collapsed stacks (``stack count`` lines)."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        counts[layer_of(stack)] = counts.get(layer_of(stack), 0) + int(n)
        total += int(n)
    if not total:
        return {}
    shares = {k: round(v * 100 / total, 1) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}
    return {"samples": total, "rate_hz": RATE_HZ, "percent": shares}


def enabled() -> bool:
    return os.environ.get("BENCH_PROFILE", "") not in ("", "0")
