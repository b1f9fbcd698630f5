"""Benchmark 6: CPU per sweep by lever — the same burst, lever after lever, each measured in this run.

One end-to-end burst (4 worker processes, ``scaled(1000)`` deposits at ``BENCH_DEPOSIT_RATE``) per step:

1. **before**: the code as it was before the levers (the parent of the commit that added
   ``sweeper/chain/codec.py``, or ``BENCH_LEVERS_BASE``), exported with ``git archive`` into a temporary
   directory and run with this tree's ``bench/``;
2. **the code levers** (orjson, one resources read, waits paced by the chain after the broadcast): the
   tree at ``SETTINGS_COMMIT``, where they were added, with every switchable lever switched back off;
3. then each setting lever turned on in turn there: task events off, no pre-ping, quotes kept 3 s;
4. then the code levers of later commits, each step the tree at its commit, the last this tree.

Every step records the stack's CPU per sweep (worker, devnet, PostgreSQL, Redis: process CPU time, which
the other helpers on a shared machine do not inflate much, unlike sweeps/min) and, with
``BENCH_PROFILE=1``, the worker's profile split. Ratios are against *before* in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, say, scaled

ON = {"SWEEPER_TASK_EVENTS": "true", "SWEEPER_DATABASE_PRE_PING": "true"}
BASE = "base"
"""A step's tree: the commit before the levers (``base_commit``)."""
HERE = ""
"""A step's tree: this one."""
SETTINGS_COMMIT = "4795f2c"
"""The commit whose code levers the setting levers were measured on (the first lever benchmark)."""
STEPS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("before", BASE, {}),
    (
        "+ code levers (orjson, one resources read, chain-paced waits)",
        SETTINGS_COMMIT,
        {**ON, "SWEEPER_ENERGY__QUOTE_CACHE_SECONDS": "0"},
    ),
    (
        "+ task events off",
        SETTINGS_COMMIT,
        {"SWEEPER_DATABASE_PRE_PING": "true", "SWEEPER_ENERGY__QUOTE_CACHE_SECONDS": "0"},
    ),
    ("+ no pre-ping", SETTINGS_COMMIT, {"SWEEPER_ENERGY__QUOTE_CACHE_SECONDS": "0"}),
    ("+ quotes kept 3 s", SETTINGS_COMMIT, {}),
    ("+ one account read, one getnodeinfo, learned first look after an order", "630f55d", {}),
    ("+ ledger reads on an autocommit pool, statements built once, one sweep read a look", "3917bce", {}),
    ("+ urllib3 node client", "e902055", {}),
    ("+ writes built once, the next step from the move's row", "0091cee", {}),
    ("+ head read as a header, one Redis client per broker channel", "af0f980", {}),
    ("+ one-statement writes in autocommit, TaPoS on the head just read (all levers)", HERE, {}),
)

WORKERS = 4


def base_commit() -> str:
    """The commit the levers start from: ``BENCH_LEVERS_BASE`` or the parent of the orjson codec's."""
    if given := os.environ.get("BENCH_LEVERS_BASE"):
        return given
    out = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "sweeper/chain/codec.py"],
        capture_output=True,
        text=True,
        cwd=BENCH_DIR.parent,
        check=True,
    )
    first = out.stdout.split()[-1]
    return first + "^"


def export(commit: str, into: Path) -> Path:
    """The tree at ``commit`` (code only) with this tree's ``bench/`` on top."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "sweeper", "tasks", "config", "devnet"],
        capture_output=True,
        cwd=BENCH_DIR.parent,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    shutil.copytree(BENCH_DIR, into / "bench", ignore=shutil.ignore_patterns("out", "charts", "*.json"))
    return into


def _step(name: str, tree: Path, env: dict[str, str], deposits: int) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix="bench-lever-", suffix=".json")[1])
    child_env = {**os.environ, **env, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "bench.levers", "--one", name, str(deposits), str(out)]
    subprocess.run(argv, cwd=tree, env=child_env, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return result


def run() -> dict[str, Any]:
    deposits = scaled(1000, 20)
    base = base_commit()
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-levers-") as tmp:
        for name, at, env in STEPS:
            commit = base if at == BASE else at
            tree = BENCH_DIR.parent
            if commit:  # each commit's tree exported once, for every step measured on it
                tree = Path(tmp) / commit.replace("^", "-parent")
                if not (tree / "sweeper").exists():
                    export(commit, tree)
            say(f"[levers] {name}: {deposits} deposits, {WORKERS} worker processes ...")
            result = _step(name, tree, env, deposits)
            result["step"] = name
            result["tree"] = commit or "this tree"
            steps.append(result)
            ms = result["cpu_ms_per_sweep"]
            say(f"[levers]   stack {_stack(ms)} ms per sweep (worker {ms['worker']})")
    return {"base": base, "workers": WORKERS, "steps": steps}


def _stack(ms: dict[str, int]) -> int:
    return sum(ms.get(k, 0) for k in ("worker", "devnet", "postgres", "redis"))


def _one(name: str, deposits: int, out: Path) -> None:
    """In the child: one burst with the tree and settings of this step."""
    from bench import e2e
    from bench.common import quiet_logs

    quiet_logs()
    workdir = BENCH_DIR / "out" / ("levers-" + "".join(c if c.isalnum() else "-" for c in name))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    result = e2e.run_once(WORKERS, deposits, e2e.DEPOSIT_RATE, workdir)
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        _one(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit("python -m bench levers")
