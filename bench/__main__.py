"""``python -m bench [scan|rescan|e2e|cost|memory|levers|hosts|all]``: run benchmarks, write RESULTS.md.

``BENCH_SCALE`` multiplies every size (0.1 for a quick look; the committed RESULTS.md uses 1).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from bench import report
from bench.common import BENCH_DIR, SCALE, machine, say

NAMES = ("scan", "rescan", "e2e", "cost", "memory", "levers")


def _scan() -> dict[str, Any]:
    from bench import scan

    return scan.run()


def _rescan() -> dict[str, Any]:
    from bench import rescan

    return rescan.run()


def _e2e() -> dict[str, Any]:
    from bench import e2e

    return e2e.run()


def _cost() -> dict[str, Any]:
    from bench import cost

    return cost.run()


def _memory_alone() -> dict[str, Any]:
    """Benchmark 5 on its own: one worker process does every sweep (the harder case for a leak), the
    deposits going to ``MEMORY_ADDRESSES`` addresses in turn."""
    from bench import e2e

    return e2e.run((1,), light=False, rate=e2e.MEMORY_RATE, distinct=e2e.MEMORY_ADDRESSES)


def _hosts() -> dict[str, Any]:
    from bench import hosts

    return hosts.run()


def _levers() -> dict[str, Any]:
    from bench import levers

    return levers.run()


RUNNERS: dict[str, Callable[[], dict[str, Any]]] = {
    "scan": _scan,
    "rescan": _rescan,
    "e2e": _e2e,
    "cost": _cost,
    "memory": _memory_alone,
    "levers": _levers,
    "hosts": _hosts,
}
ALONE = ("hosts",)
"""Run only when named: benchmark 7 needs root (network namespaces, cgroups), so not in CI."""


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH_DIR, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def _stamp(result: dict[str, Any], started: float, load: float) -> dict[str, Any]:
    return {
        **result,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "duration_s": round(time.monotonic() - started),
        "scale": SCALE,
        "commit": _commit(),
        "load_before": round(load, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="?", default="all", choices=(*NAMES, *ALONE, "all"))
    args = parser.parse_args(argv)
    selected = list(NAMES) if args.which == "all" else [args.which]

    results = report.load()
    results["machine"] = machine()
    for name in selected:
        if name == "memory" and "e2e" in selected:
            # the end-to-end runs measured the workers' RSS already: one set of runs serves both
            results["memory"] = {**results["e2e"], "from": "e2e"}
            continue
        say(f"=== {name} ===")
        started = time.monotonic()
        load = os.getloadavg()[0]
        results[name] = _stamp(RUNNERS[name](), started, load)
        report.save(results)
    table = report.rows(results)
    say("")
    say(report.table_text(table))
    report.write_markdown(results, table)
    say(f"\nwrote {report.RESULTS_MD.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
