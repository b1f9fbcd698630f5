"""What ``GET /metrics`` exports: ledger aggregates, cached, and each provider's health as probed.

The ledger figures are grouped queries computed by the database, at most once per ``cache_seconds`` per
web process however often Prometheus (or several of them) scrape, so a scrape never costs a table scan of
its own. Every web process reads the same ledger, so any of them reports the same numbers.

Provider health is probed, not inferred from sweeps: a ``ProviderProbes`` thread asks every configured
source for our balance every ``interval`` seconds, so a provider that fails every request shows as
``sweeper_provider_up 0`` with ``sweeper_provider_probes_total{outcome="error"}`` rising even while no
sweep is asking it for energy (docs/OPERATIONS.md, alert ProviderDown). The balances it reads feed the
low-balance alert and the operator console.

Types follow Prometheus' conventions (https://prometheus.io/docs/practices/naming/): counters end in
``_total``, durations are histograms in seconds, and no gauge carries a ``quantile`` label.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sweeper.errors import SweeperError
from sweeper.ledger import Ledger, LedgerUnavailable, stats
from sweeper.ledger.controls import SpendControls
from sweeper.ledger.records import OrderRequestStatus
from sweeper.models import SweepState

log = structlog.get_logger("sweeper.metrics")

BUDGETS = ("orders_per_sweep", "orders_per_address", "sun_per_hour")


class Balanced(Protocol):
    """What a probe needs of an energy source: our balance there, in sun."""

    def balance(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The latest probe of one source."""

    source: str
    up: bool
    balance_sun: int | None
    error: str | None
    at: float
    last_success_at: float | None


class ProviderProbes:
    """Each configured source's balance, read now and then in a thread of its own; thread-safe."""

    def __init__(self, sources: Mapping[str, Balanced], *, clock: Callable[[], float] = time.time) -> None:
        self._sources = dict(sources)
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, ProbeResult] = {}
        self._counts: dict[tuple[str, str], int] = {(n, o): 0 for n in self._sources for o in ("ok", "error")}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def names(self) -> list[str]:
        return list(self._sources)

    def probe_once(self) -> list[ProbeResult]:
        """Ask every source for its balance once; a failure is recorded, never raised."""
        for name, source in self._sources.items():
            try:
                balance: int | None = int(source.balance())
                error = None
            except SweeperError as exc:
                balance, error = None, exc.reason
            except Exception as exc:  # noqa: BLE001 - any client failure means the provider is not usable
                balance, error = None, type(exc).__name__
            now = self._clock()
            with self._lock:
                before = self._latest.get(name)
                last_ok = now if error is None else (before.last_success_at if before else None)
                self._latest[name] = ProbeResult(name, error is None, balance, error, now, last_ok)
                self._counts[(name, "ok" if error is None else "error")] += 1
            if error is not None:
                log.warning("provider.probe_failed", source=name, reason=error)
        return self.latest()

    def latest(self) -> list[ProbeResult]:
        with self._lock:
            return [self._latest[n] for n in self._sources if n in self._latest]

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def start(self, interval: float) -> None:
        """Probe now and then every ``interval`` seconds in a daemon thread, until ``stop``."""
        if self._thread is not None or not self._sources or interval <= 0:
            return

        def run() -> None:
            while not self._stop.is_set():
                self.probe_once()
                self._stop.wait(interval)

        self._thread = threading.Thread(target=run, name="provider-probes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "sweeper_provider_up", "1 if the latest probe of the source answered, else 0.", labels=["source"]
        )
        balance = GaugeMetricFamily(
            "sweeper_provider_balance_sun", "Our balance (or capacity) at the source.", labels=["source"]
        )
        last_ok = GaugeMetricFamily(
            "sweeper_provider_last_success_timestamp_seconds",
            "Unix time of the latest probe the source answered.",
            labels=["source"],
        )
        for result in self.latest():
            up.add_metric([result.source], 1 if result.up else 0)
            if result.balance_sun is not None:
                balance.add_metric([result.source], result.balance_sun)
            if result.last_success_at is not None:
                last_ok.add_metric([result.source], result.last_success_at)
        probes = CounterMetricFamily(
            "sweeper_provider_probes",
            "Balance probes of each source, by outcome.",
            labels=["source", "outcome"],
        )
        for (name, outcome), n in sorted(self.counts().items()):
            probes.add_metric([name, outcome], n)
        yield from (up, balance, last_ok, probes)


class LedgerCollector(Collector):
    """Prometheus metrics from the ledger, recomputed at most once per ``cache_seconds``."""

    def __init__(
        self,
        ledger: Ledger,
        head_block: Callable[[], int] | None = None,
        *,
        cache_seconds: float = 0.0,
        probes: ProviderProbes | None = None,
        spend_budget_sun_per_hour: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.spend_budget = spend_budget_sun_per_hour
        self.head_block = head_block
        self.cache_seconds = cache_seconds
        self.probes = probes
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        yield from self._ledger_metrics()
        if self.probes is not None:
            yield from self.probes.collect()

    def _ledger_metrics(self) -> list[Metric]:
        with self._lock:  # concurrent scrapes wait for one computation instead of each running it
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            up = GaugeMetricFamily("sweeper_ledger_up", "1 if the ledger answered, else 0.")
            try:
                metrics = list(self._from_ledger())
            except LedgerUnavailable as exc:
                log.warning("metrics.ledger_unavailable", detail=str(exc))
                up.add_metric([], 0)
                self._cached = None  # the next scrape asks again
                return [up]
            up.add_metric([], 1)
            self._cached = (now, [up, *metrics])
            return self._cached[1]

    def _from_ledger(self) -> Iterator[Metric]:
        counts = stats.state_counts(self.ledger)
        tokens = sorted({(c.token_symbol, c.token_contract) for c in counts})
        found = {(c.state, c.token_symbol, c.token_contract): c.count for c in counts}
        sweeps = GaugeMetricFamily(
            "sweeper_sweeps", "Sweeps in each state, by token.", labels=["state", "token", "contract"]
        )
        cost = CounterMetricFamily(
            "sweeper_cost_sun",
            "Sun spent on sweeps (energy, activation, burn).",
            labels=["token", "contract"],
        )
        for symbol, contract in tokens:
            for state in SweepState:
                sweeps.add_metric([state.value, symbol, contract], found.get((state, symbol, contract), 0))
            spent = sum(
                c.cost_sun for c in counts if (c.token_symbol, c.token_contract) == (symbol, contract)
            )
            cost.add_metric([symbol, contract], spent)
        yield sweeps
        yield cost

        oldest = stats.oldest_open_created_at(self.ledger)
        age = (self.ledger.now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "sweeper_oldest_open_sweep_age_seconds",
            "Age of the oldest sweep not yet CONFIRMED, FAILED or SKIPPED (0 when none is open).",
            value=max(0.0, age),
        )

        latency = HistogramMetricFamily(
            "sweeper_confirmed_latency_seconds",
            "Seconds from detection to confirmation of CONFIRMED sweeps.",
            labels=["token"],
        )
        for h in stats.confirmed_latency_histograms(self.ledger):
            buckets = [(str(float(b)), n) for b, n in h.buckets] + [("+Inf", h.count)]
            latency.add_metric([h.token_symbol], buckets, h.sum_seconds)
        yield latency

        yield from self._orders()
        yield from self._scanner()
        yield from self._guards()

    def _orders(self) -> Iterator[Metric]:
        """Provider errors: FAILED orders only ever grow (a counter); UNKNOWN ones resolve (a gauge)."""
        errors = CounterMetricFamily(
            "sweeper_provider_errors",
            "Energy orders the source FAILED, by source.",
            labels=["source"],
        )
        unknown = GaugeMetricFamily(
            "sweeper_provider_orders_unknown",
            "Energy orders whose outcome is unknown (lost answer) until looked up, by source.",
            labels=["source"],
        )
        bad = (OrderRequestStatus.FAILED, OrderRequestStatus.UNKNOWN)
        found = {(source, status): n for source, status, n in stats.order_counts(self.ledger, bad)}
        names = sorted({*stats.order_sources(self.ledger), *(self.probes.names if self.probes else [])})
        for source in names:
            errors.add_metric([source], found.get((source, OrderRequestStatus.FAILED), 0))
            unknown.add_metric([source], found.get((source, OrderRequestStatus.UNKNOWN), 0))
        yield errors
        yield unknown
        yield from self._charges()

    def _charges(self) -> Iterator[Metric]:
        """Per source: what quotes said, what was charged and refunded, and charges far from the quote."""
        families = {
            "quoted": CounterMetricFamily(
                "sweeper_energy_quoted_sun",
                "Sun the chosen quotes said orders would cost.",
                labels=["source"],
            ),
            "charged": CounterMetricFamily(
                "sweeper_energy_charged_sun",
                "Sun providers charged for orders, before refunds.",
                labels=["source"],
            ),
            "refunded": CounterMetricFamily(
                "sweeper_energy_refunded_sun", "Sun providers gave back (refunded orders).", labels=["source"]
            ),
            "mismatches": CounterMetricFamily(
                "sweeper_energy_charge_mismatches",
                "Orders charged further from the price list than the tolerance (breaker opened).",
                labels=["source"],
            ),
        }
        for c in stats.source_charges(self.ledger):
            families["quoted"].add_metric([c.source], c.quoted_sun)
            families["charged"].add_metric([c.source], c.charged_sun)
            families["refunded"].add_metric([c.source], c.refunded_sun)
            families["mismatches"].add_metric([c.source], c.mismatches)
        yield from families.values()

    def _guards(self) -> Iterator[Metric]:
        """The spend guards: the kill switch, energy spend, budget crossings, quarantined addresses."""
        controls = SpendControls(self.ledger)
        paused = GaugeMetricFamily("sweeper_spending_paused", "1 while `sweeper pause` stops all spending.")
        paused.add_metric([], 1 if controls.paused() else 0)
        yield paused
        since = self.ledger.now() - timedelta(hours=1)
        yield GaugeMetricFamily(
            "sweeper_energy_spend_last_hour_sun",
            "Sun the energy orders of the last hour may have cost (the hourly budget's figure).",
            value=controls.spent_since(since),
        )
        if self.spend_budget is not None:
            yield GaugeMetricFamily(
                "sweeper_energy_budget_sun_per_hour",
                "SWEEPER_BUDGET__SUN_PER_HOUR: what energy may cost in any hour (0: no limit).",
                value=self.spend_budget,
            )
        crossings = CounterMetricFamily(
            "sweeper_budget_crossings",
            "Times a spend budget was crossed (spending paused).",
            labels=["budget"],
        )
        found = controls.crossings()
        for budget in BUDGETS:
            crossings.add_metric([budget], found.get(budget, 0))
        yield crossings
        yield GaugeMetricFamily(
            "sweeper_quarantined_addresses",
            "Addresses no detection reopens after a failed sweep, until `sweeper release`.",
            value=controls.quarantine_list(limit=0)[0],
        )

    def _scanner(self) -> Iterator[Metric]:
        positions = stats.cursors(self.ledger)
        cursor = GaugeMetricFamily(
            "sweeper_scanner_cursor_block", "Last block fully scanned.", labels=["cursor"]
        )
        for name, block in positions.items():
            cursor.add_metric([name], block)
        yield cursor
        if self.head_block is None:
            return
        try:
            head = self.head_block()
        except Exception as exc:  # noqa: BLE001 - a node problem must not break the whole scrape
            log.warning("metrics.head_block_failed", error=type(exc).__name__)
            return
        yield GaugeMetricFamily("sweeper_chain_head_block", "Head block as the node reports it.", value=head)
        lag = GaugeMetricFamily(
            "sweeper_scanner_lag_blocks", "Head block minus the cursor.", labels=["cursor"]
        )
        for name, block in positions.items():
            lag.add_metric([name], head - block)
        yield lag
