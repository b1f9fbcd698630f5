"""``/metrics`` as Prometheus and Grafana use it: cached, authenticated, promtool-clean, provider health.

The alert rules and the dashboard are checked against a real scrape: every metric name they query must
be one ``/metrics`` exports, and ``promtool`` (Debian's ``prometheus`` package, installed by .ci/services)
checks the exposition and runs the rules' unit tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from config.settings import load_settings
from devnet.server import Devnet
from sweeper.ledger import Ledger, OrderRequestStatus
from sweeper.models import SweepState
from tasks.devnet_profile import devnet_env
from tasks.metrics import LedgerCollector, ProviderProbes
from tasks.sources import build_sources
from tasks.web import create_web_app
from tests.e2e.helpers import wait_for
from tests.fixtures.db import HOT_WALLET
from tests.integration.test_web_receiver import open_ordered_sweep

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
PROMETHEUS_BUILTINS = {"up"}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: `bash .ci/services`")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def sources_on(devnet: Devnet, http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The real itrx, ea888fee and tronzap clients, configured for ``devnet``'s simulators."""
    env = devnet_env(devnet, database_url="sqlite://", broker_url="memory://", destination=HOT_WALLET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return dict(build_sources(load_settings(_env_file=None), http))


def statements(ledger: Ledger) -> list[str]:
    """Every SQL statement the ledger's engine runs from now on."""
    seen: list[str] = []
    for engine in ledger.engines():
        sa.event.listen(engine, "before_cursor_execute", lambda *a, **_: seen.append(a[2]))
    return seen


def test_scrapes_within_the_cache_window_do_not_query_the_ledger(ledger: Ledger) -> None:
    clock = Clock()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(ledger, cache_seconds=15, clock=clock))
    open_ordered_sweep(ledger, "first", "sw1a0o1")
    seen = statements(ledger)

    first = generate_latest(registry)
    queries = len(seen)
    open_ordered_sweep(ledger, "second", "sw2a0o1")
    after_write = len(seen)
    for _ in range(5):
        clock.now += 2
        assert generate_latest(registry) == first
    assert len(seen) == after_write  # five scrapes, not one statement
    clock.now += 10
    fresh = generate_latest(registry)

    assert queries > 0 and len(seen) > after_write
    assert b'state="ENERGY_ORDERED",token="USDT"} 2.0' in fresh


def test_metrics_ask_for_the_bearer_token_when_one_is_configured(ledger: Ledger) -> None:
    token = "metrics-token-for-tests-0001"
    client = TestClient(create_web_app(ledger, {}, lambda _: None, metrics_token=token))

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and "sweeper_ledger_up 1.0" in ok.text
    assert TestClient(create_web_app(ledger, {}, lambda _: None)).get("/metrics").status_code == 200


def test_a_provider_failing_every_request_shows_as_down_with_its_failed_probes_counted(
    devnet: Devnet, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = ProviderProbes(sources_on(devnet, http, monkeypatch))
    probes.probe_once()
    devnet.faults.set("itrx", error_rate=1.0, status=500)
    probes.probe_once()
    probes.probe_once()

    found = {r.source: r for r in probes.latest()}
    assert not found["itrx"].up and found["itrx"].balance_sun is None
    assert found["itrx"].last_success_at is not None  # the first probe answered
    assert found["tronzap"].up and (found["tronzap"].balance_sun or 0) > 0
    registry = CollectorRegistry(auto_describe=False)
    registry.register(probes)
    text = generate_latest(registry).decode()
    assert 'sweeper_provider_up{source="itrx"} 0.0' in text
    assert 'sweeper_provider_up{source="tronzap"} 1.0' in text
    assert 'sweeper_provider_probes_total{outcome="error",source="itrx"} 2.0' in text
    assert 'sweeper_provider_probes_total{outcome="ok",source="itrx"} 1.0' in text


@pytest.fixture
def full_scrape(
    ledger: Ledger, devnet_session: Devnet, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> str:
    """One real /metrics scrape in which every series the product exports has a sample."""
    confirmed = open_ordered_sweep(ledger, "confirmed", "sw1a0o1")
    assert ledger.transition(
        confirmed.id, SweepState.ENERGY_ORDERED, SweepState.CONFIRMED, add_cost=3_250_000, txid="ab" * 32
    )
    open_ordered_sweep(ledger, "open", "sw2a0o1")
    ledger.record_order_request(confirmed.id, "energy", "tronzap", "sw1a0o2", 65_000)
    ledger.update_order("tronzap", "sw1a0o2", status=OrderRequestStatus.FAILED)
    ledger.set_cursor("blocks", 900)
    probes = ProviderProbes(sources_on(devnet_session, http, monkeypatch))
    probes.probe_once()
    app = create_web_app(
        ledger,
        {},
        lambda _: None,
        head_block=lambda: 1000,
        probes=probes,
        spend_budget_sun_per_hour=2_000_000_000,
    )
    response = TestClient(app).get("/metrics")
    assert response.status_code == 200
    return response.text


def exported_names(text: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def queried_names(expressions: list[str]) -> set[str]:
    """Metric names in PromQL: identifiers not followed by '(' that are not keywords or label names."""
    names: set[str] = set()
    for expr in expressions:
        stripped = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
        stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", stripped)
        stripped = re.sub(r'"[^"]*"', "", stripped)
        for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", stripped):
            word = match.group(1)
            if word not in {"and", "or", "unless", "offset", "bool", "e6", "inf", "nan"} and not re.fullmatch(
                r"\d+[smhdwy]|e\d+", word
            ):
                names.add(word)
    return names


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions(path: Path) -> list[str]:
    dashboard = json.loads(path.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_alerts_and_dashboards_query_only_metrics_that_metrics_exports(full_scrape: str) -> None:
    exported = exported_names(full_scrape) | PROMETHEUS_BUILTINS
    assert DASHBOARDS, "no dashboard in deploy/grafana"
    wanted = {"alerts.yml": queried_names(alert_expressions())}
    wanted |= {p.name: queried_names(dashboard_expressions(p)) for p in DASHBOARDS}

    missing = {name: sorted(names - exported) for name, names in wanted.items() if names - exported}
    assert missing == {}
    assert all(names for names in wanted.values())
    assert "sweeper_provider_up" in wanted["alerts.yml"]


def test_the_name_check_catches_a_metric_that_does_not_exist() -> None:
    assert queried_names(['sum by (state) (sweeper_no_such_total{a="b"}) > 0']) == {"sweeper_no_such_total"}


@needs_promtool
def test_promtool_accepts_a_real_scrape(full_scrape: str) -> None:
    assert 'quantile="' not in full_scrape
    result = subprocess.run(
        [str(PROMTOOL), "check", "metrics"],
        input=full_scrape,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""  # no lint complaint either


@needs_promtool
def test_the_alert_rules_are_valid_and_their_unit_tests_pass() -> None:
    for args in (
        ["check", "rules", str(ALERTS)],
        ["test", "rules", str(ALERTS.with_name("alerts_test.yml"))],
    ):
        result = subprocess.run(
            [str(PROMTOOL), *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_probes_run_in_their_own_thread_until_stopped_and_never_with_interval_zero(
    devnet_session: Devnet, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = sources_on(devnet_session, http, monkeypatch)
    off = ProviderProbes(sources)
    off.start(0)
    probes = ProviderProbes(sources)
    probes.start(0.05)
    try:
        wait_for(lambda: probes.counts()[("itrx", "ok")] >= 2, 20, "two rounds of probes")
    finally:
        probes.stop()
    stopped = probes.counts()
    time.sleep(0.3)  # six intervals: a thread still running would have probed again
    assert probes.counts() == stopped and off.latest() == [] and all(n == 0 for n in off.counts().values())
