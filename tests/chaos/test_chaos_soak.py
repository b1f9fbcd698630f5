"""Soak: hundreds of sweeps while faults land at random at a steady rate; nothing swept twice, nothing lost.

Deposits arrive in waves while an injector, driven by a seeded RNG, sets one fault every
``FAULT_EVERY_S`` seconds (node 5xx, latency, hangs, dropped broadcasts, provider 5xx, dropped
callbacks) and SIGKILLs a whole worker every ``KILL_EVERY_S`` seconds. When every deposit is
settled the figures are printed; with ``SOAK_SWEEPS`` set (the full run) they are also written to
the soak section of docs/RELIABILITY.md:

    SOAK_SWEEPS=300 .venv/bin/pytest -m chaos tests/chaos/test_chaos_soak.py -s
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sweeper.models import TERMINAL_STATES
from tests.chaos.harness import Chaos
from tests.chaos.invariants import audit

pytestmark = pytest.mark.chaos

SWEEPS = int(os.environ.get("SOAK_SWEEPS") or 100)
SEED = int(os.environ.get("SOAK_SEED") or 20261122)
WAVE = 25
FAULT_EVERY_S = 1.0
FAULT_HOLD_S = 2.0
KILL_EVERY_S = 12.0
DEADLINE_S = 120.0 + SWEEPS * 1.5
REPORT = Path(__file__).resolve().parents[2] / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"
PROVIDERS = ("itrx", "ea888fee", "tronzap")


@dataclass
class Injector:
    """Sets one random fault per tick and clears it ``FAULT_HOLD_S`` later; kills a worker now and then."""

    chaos: Chaos
    rng: random.Random
    injected: Counter[str] = field(default_factory=Counter)
    _clear_at: dict[str, float] = field(default_factory=dict)
    _next_fault: float = 0.0
    _next_kill: float = 0.0

    def start(self) -> None:
        now = time.monotonic()
        self._next_fault, self._next_kill = now + FAULT_EVERY_S, now + KILL_EVERY_S

    def tick(self) -> None:
        now = time.monotonic()
        faults = self.chaos.devnet.faults
        for target, at in list(self._clear_at.items()):
            if now >= at:
                faults.clear(target)
                del self._clear_at[target]
        if now >= self._next_fault:
            self._next_fault += FAULT_EVERY_S
            kind, target, settings = self.rng.choice(self._menu())()
            faults.set(target, **settings)
            self._clear_at[target] = now + FAULT_HOLD_S
            self.injected[kind] += 1
        if now >= self._next_kill:
            self._next_kill += KILL_EVERY_S
            name = self.rng.choice(self.chaos.workers)
            self.chaos.restart(name, concurrency=3)
            self.injected["worker SIGKILL"] += 1

    def stop(self) -> None:
        self.chaos.devnet.faults.clear()
        self._clear_at.clear()

    def _menu(self) -> list[Callable[[], tuple[str, str, dict[str, object]]]]:
        provider = self.rng.choice(PROVIDERS)
        return [
            lambda: ("node 5xx", "node", {"error_rate": 0.3, "status": 503}),
            lambda: ("node latency", "node", {"latency_ms": 300}),
            lambda: ("node hang", "node", {"timeout_rate": 0.1}),
            lambda: ("node dropped broadcast", "node", {"drop_broadcasts": True, "count": 2}),
            lambda: ("provider 5xx", provider, {"error_rate": 0.5, "status": 502}),
            lambda: ("provider dropped callback", "itrx", {"callbacks": "drop", "count": 3}),
        ]


def test_hundreds_of_sweeps_under_random_faults_end_with_no_duplicate_and_none_lost(
    chaos_site: Chaos,
) -> None:
    chaos = chaos_site
    chaos.configure(
        web=True,
        SWEEPER_RECONCILE_INTERVAL_SECONDS="2",
        SWEEPER_TRON__TIMEOUT="3",
        SWEEPER_ENERGY__BREAKER_RESET_SECONDS="3",
        # An order whose answer was lost to a 5xx is given up (and another source asked) after this;
        # devnet providers deliver within a second or two, mainnet ones need the default 180 s.
        SWEEPER_ORDER_TIMEOUT_SECONDS="15",
    )
    chaos.site.scan_from_head()
    chaos.start(workers=2, concurrency=3)
    injector = Injector(chaos, random.Random(SEED))
    began = time.monotonic()
    injector.start()
    minted = 0
    try:
        while time.monotonic() - began < DEADLINE_S:
            open_now = len(chaos.plan) - _settled(chaos)
            if minted < SWEEPS and open_now < WAVE:
                n = min(WAVE, SWEEPS - minted)
                chaos.deposit(n, activated=n // 2)
                minted += n
            elif minted >= SWEEPS and open_now == 0:
                break
            injector.tick()
            time.sleep(0.2)
    finally:
        injector.stop()
    chaos.settle(timeout=120)
    elapsed = time.monotonic() - began

    found = audit(chaos.devnet, chaos.site.ledger, chaos.plan, chaos.site.hot)
    figures = {
        "sweeps planned": SWEEPS,
        "sweeps completed": found.swept,
        "faults injected": sum(injector.injected.values()),
        "duplicates": len(found.duplicates),
        "lost": len(found.lost),
        "seconds": round(elapsed),
    }
    print("\nsoak figures:", figures, "\nfaults by kind:", dict(injector.injected))
    if os.environ.get("SOAK_SWEEPS"):
        write_report(figures, injector.injected)
    if found.problems:
        chaos.dump("soak invariants violated")
    assert not found.problems, "\n".join(found.problems)
    assert figures["duplicates"] == 0 and figures["lost"] == 0
    assert found.swept == SWEEPS


def _settled(chaos: Chaos) -> int:
    """Deposits whose sweeps are all terminal (and that have one)."""
    by_address: dict[str, bool] = {}
    for s in chaos.site.ledger.sweeps(limit=100_000):
        by_address[s.address] = by_address.get(s.address, True) and s.state in TERMINAL_STATES
    return sum(1 for a in chaos.plan if by_address.get(a))


def write_report(figures: dict[str, int], injected: Counter[str]) -> None:
    """Replace the soak section of docs/RELIABILITY.md with this run's figures."""
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(injected.items()))
    block = "\n".join(
        [
            BEGIN,
            "| sweeps planned | sweeps completed | faults injected | duplicates | lost | wall time |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {figures['sweeps planned']} | {figures['sweeps completed']} | {figures['faults injected']} "
            f"| {figures['duplicates']} | {figures['lost']} | {figures['seconds']} s |",
            "",
            f"Faults by kind (seed {SEED}): {kinds}.",
            END,
        ]
    )
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else f"{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text += "\n" + block + "\n"
    REPORT.write_text(text, encoding="utf-8")
