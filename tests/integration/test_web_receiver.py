"""The callback receiver records a verified callback once and enqueues advance; bad ones change nothing."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from sweeper.energy.signing import compact_json, itrx_signature, spaced_json
from sweeper.ledger import DepositAddress, Ledger, OrderRequestStatus, Sweep, create_engine_for
from sweeper.ledger.controls import SpendControls
from sweeper.models import SweepState
from tasks.web import LazyApp, create_web_app
from tests.fixtures.db import HOT_WALLET, USDT, tron_address

pytestmark = pytest.mark.integration

SECRET = "itrx-callback-secret-for-tests-0001"
NOW = 1_700_000_000.0
TS = str(int(NOW))
ORDER_NO = "sw1a0o1"
LEDGER_TABLES = ("sweeps", "sweep_history", "energy_orders", "callback_events", "chain_transactions")


class Receiver:
    """A TestClient on the real app, its ledger, and the real list the enqueue function appends to."""

    def __init__(self, ledger: Ledger, *, now: float = NOW, max_body: int = 64 * 1024, **kw: Any) -> None:
        self.ledger = ledger
        self.enqueued: list[int] = []
        self.now = now
        app = create_web_app(
            ledger, {"itrx": SECRET}, self.enqueued.append, clock=lambda: self.now, max_body=max_body, **kw
        )
        self.client = TestClient(app)

    def post(self, body: bytes, headers: dict[str, str], provider: str = "itrx") -> httpx.Response:
        return self.client.post(f"/callbacks/{provider}", content=body, headers=headers)


def open_ordered_sweep(ledger: Ledger, seed: str = "deposit", order_no: str = ORDER_NO) -> Sweep:
    """A watched address with a sweep that ordered energy from itrx under ``order_no``."""
    address = tron_address(seed)
    ledger.add_addresses([DepositAddress(address, f"mnemonic:{abs(hash(seed)) % 1000}")])
    sweep = ledger.open_sweep(address, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    ledger.record_order_request(sweep.id, "energy", "itrx", order_no, 65_000)
    assert ledger.transition(
        sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, energy_source="itrx", order_no=order_no
    )
    return sweep


def payload(address: str, **changes: Any) -> dict[str, Any]:
    body = {
        "active_hash": "",
        "bandwidth_hash": "",
        "energy_amount": 65_000,
        "out_trade_no": ORDER_NO,
        "pay_amount": 65_170.005048646104,
        "receive_address": address,
        "serial": "886294f5204ac2fc1430f5a7d9215a80",
        "source": "api",
        "status": 40,
        "txid": "2610c200efc8a90601758715405fa6be4597469e854591975d113b720a762ec2",
        "type": "energy",
    }
    body.update(changes)
    return body


def signed(data: dict[str, Any], form: str = "compact", ts: str = TS) -> tuple[bytes, dict[str, str]]:
    """The body as itrx would send it, with TIMESTAMP and SIGNATURE over the chosen JSON form."""
    text = compact_json(data) if form == "compact" else spaced_json(data)
    signature = itrx_signature(SECRET, ts, text)
    return text.encode(), {"TIMESTAMP": ts, "SIGNATURE": signature, "Content-Type": "application/json"}


def snapshot(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a callback could touch."""
    with ledger.engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY 1"))]
            for name in LEDGER_TABLES
        }


def callback_rows(ledger: Ledger) -> list[tuple[Any, ...]]:
    with ledger.engine.connect() as conn:
        query = "SELECT provider, event_key, payload, order_no FROM callback_events ORDER BY id"
        return [tuple(row) for row in conn.execute(sa.text(query))]


# --- accepted ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["compact", "spaced"])
def test_a_valid_callback_is_recorded_once_and_enqueues_advance_for_its_sweep(
    ledger: Ledger, form: str
) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    before = ledger.get_sweep(sweep.id)
    body, headers = signed(payload(sweep.address), form)

    response = receiver.post(body, headers)

    assert (response.status_code, response.json()) == (200, {})
    assert receiver.enqueued == [sweep.id]
    rows = callback_rows(ledger)
    assert len(rows) == 1
    provider, key, stored, order_no = rows[0]
    assert (provider, order_no, stored) == ("itrx", ORDER_NO, body.decode())
    assert key.startswith("itrx:886294f5204ac2fc1430f5a7d9215a80:40:")
    assert ledger.get_sweep(sweep.id) == before


def test_a_callback_gives_an_order_without_an_id_its_serial_and_never_replaces_one(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    assert receiver.post(*signed(payload(sweep.address))).status_code == 200
    order = ledger.get_order("itrx", ORDER_NO)
    assert order is not None and order.provider_order_id == "886294f5204ac2fc1430f5a7d9215a80"
    assert not ledger.note_provider_order_id("itrx", ORDER_NO, "another")


def test_a_form_body_with_numbers_as_strings_is_accepted(ledger: Ledger) -> None:
    from urllib.parse import urlencode

    sweep = open_ordered_sweep(ledger)
    fields = {k: str(v) for k, v in payload(sweep.address).items()}
    _body, headers = signed(fields)
    form = urlencode(fields).encode()
    headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    response = Receiver(ledger).post(form, headers)
    assert (response.status_code, response.json()) == (200, {})


def test_the_same_callback_again_is_a_duplicate_and_enqueues_nothing_more(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    body, headers = signed(payload(sweep.address))
    assert receiver.post(body, headers).status_code == 200
    after_first = snapshot(ledger)

    again = receiver.post(body, headers)
    respaced, headers2 = signed(payload(sweep.address), "spaced")
    same_event_other_form = receiver.post(respaced, headers2)

    assert (again.status_code, again.json()) == (200, {"duplicate": True})
    assert (same_event_other_form.status_code, same_event_other_form.json()) == (200, {"duplicate": True})
    assert receiver.enqueued == [sweep.id]
    assert snapshot(ledger) == after_first


def test_a_failure_callback_is_a_new_event_that_also_only_enqueues_advance(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    receiver.post(*signed(payload(sweep.address)))

    response = receiver.post(*signed(payload(sweep.address, status=41, txid="")))

    assert response.status_code == 200
    assert receiver.enqueued == [sweep.id, sweep.id]
    assert len(callback_rows(ledger)) == 2
    assert ledger.get_sweep(sweep.id) == ledger.sweeps()[0]
    assert ledger.sweeps()[0].state is SweepState.ENERGY_ORDERED


def test_a_callback_picks_the_sweep_of_its_own_order_among_many(ledger: Ledger) -> None:
    open_ordered_sweep(ledger, "first", "sw1a0o1")
    second = open_ordered_sweep(ledger, "second", "sw2a0o1")
    receiver = Receiver(ledger)

    response = receiver.post(*signed(payload(second.address, out_trade_no="sw2a0o1")))

    assert response.status_code == 200
    assert receiver.enqueued == [second.id]


# --- rejected, nothing changes ----------------------------------------------------------------------


def forged_signature(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    body, headers = signed(payload(sweep.address))
    return body, dict(headers, SIGNATURE=itrx_signature("not-the-secret", TS, body.decode()))


def tampered_body(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    _, headers = signed(payload(sweep.address))
    return compact_json(payload(sweep.address, energy_amount=1_000_000)).encode(), headers


def missing_signature(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    body, _ = signed(payload(sweep.address))
    return body, {"TIMESTAMP": TS, "Content-Type": "application/json"}


def stale_timestamp(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    return signed(payload(sweep.address), ts=str(int(NOW) - 301))


def future_timestamp(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    return signed(payload(sweep.address), ts=str(int(NOW) + 301))


def unknown_order(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    return signed(payload(sweep.address, out_trade_no="sw999a0o1"))


def missing_order_number(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    return signed(payload(sweep.address, out_trade_no=""))


def wrong_receive_address(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    return signed(payload(tron_address("attacker")))


def not_json(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    text = "serial=1&status=40"
    return text.encode(), {"TIMESTAMP": TS, "SIGNATURE": itrx_signature(SECRET, TS, text)}


def json_array(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    text = json.dumps([payload(sweep.address)])
    return text.encode(), {"TIMESTAMP": TS, "SIGNATURE": itrx_signature(SECRET, TS, text)}


def missing_serial(sweep: Sweep) -> tuple[bytes, dict[str, str]]:
    data = payload(sweep.address)
    del data["serial"]
    return signed(data)


REJECTIONS: list[tuple[Callable[[Sweep], tuple[bytes, dict[str, str]]], int, str]] = [
    (forged_signature, 401, "bad_signature"),
    (tampered_body, 401, "bad_signature"),
    (missing_signature, 401, "missing_headers"),
    (stale_timestamp, 401, "stale"),
    (future_timestamp, 401, "stale"),
    (unknown_order, 404, "unknown_order"),
    (missing_order_number, 404, "unknown_order"),
    (wrong_receive_address, 400, "address_mismatch"),
    (not_json, 400, "malformed"),
    (json_array, 400, "malformed"),
    (missing_serial, 400, "malformed"),
]


@pytest.mark.parametrize(("make", "status", "reason"), REJECTIONS, ids=[m.__name__ for m, _, _ in REJECTIONS])
def test_a_bad_callback_is_rejected_with_a_clear_status_and_changes_nothing(
    ledger: Ledger, make: Callable[[Sweep], tuple[bytes, dict[str, str]]], status: int, reason: str
) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    before = snapshot(ledger)

    with capture_logs() as logs:
        response = receiver.post(*make(sweep))

    assert response.status_code == status
    assert response.json()["error"] == reason
    assert response.json()["message"]
    assert receiver.enqueued == []
    assert snapshot(ledger) == before
    assert any(entry["log_level"] == "warning" for entry in logs)


def test_a_replay_past_the_tolerance_is_refused_even_though_it_was_once_valid(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    body, headers = signed(payload(sweep.address))
    assert receiver.post(body, headers).status_code == 200
    after_first = snapshot(ledger)

    receiver.now = NOW + 301
    replay = receiver.post(body, headers)

    assert (replay.status_code, replay.json()["error"]) == (401, "stale")
    assert receiver.enqueued == [sweep.id]
    assert snapshot(ledger) == after_first


def test_an_oversized_body_is_refused_with_413_before_anything_is_parsed(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    before = snapshot(ledger)
    data = payload(sweep.address, padding="x" * (64 * 1024))
    body, headers = signed(data)

    response = receiver.post(body, headers)

    assert (response.status_code, response.json()["error"]) == (413, "too_large")
    assert receiver.enqueued == []
    assert snapshot(ledger) == before


def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger, max_body=1024)
    body, headers = signed(payload(sweep.address, padding="x" * 2048))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the receiver must count while it reads
        for start in range(0, len(body), 256):
            yield body[start : start + 256]

    response = receiver.client.post("/callbacks/itrx", content=chunks(), headers=headers)

    assert (response.status_code, response.json()["error"]) == (413, "too_large")
    assert receiver.enqueued == []


@pytest.mark.parametrize("provider", ["ea888fee", "tronzap"])
def test_providers_we_poll_get_404_because_they_send_no_callbacks(ledger: Ledger, provider: str) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)

    response = receiver.post(*signed(payload(sweep.address)), provider=provider)

    assert response.status_code == 404
    assert response.json()["message"] == "provider sends no callbacks"
    assert receiver.enqueued == []


@pytest.mark.parametrize("provider", ["stake", "burn"])
def test_every_registered_source_without_a_callback_spec_is_refused_as_sending_none(
    ledger: Ledger, provider: str
) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)

    response = receiver.post(*signed(payload(sweep.address)), provider=provider)

    assert (response.status_code, response.json()["error"]) == (404, "no_callbacks")
    assert receiver.enqueued == []


def test_an_unknown_provider_or_one_without_a_secret_is_refused(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    enqueued: list[int] = []
    client = TestClient(create_web_app(ledger, {}, enqueued.append, clock=lambda: NOW))
    body, headers = signed(payload(sweep.address))

    assert client.post("/callbacks/nope", content=body, headers=headers).status_code == 404
    unconfigured = client.post("/callbacks/itrx", content=body, headers=headers)
    assert (unconfigured.status_code, unconfigured.json()["error"]) == (404, "not_configured")
    assert client.get("/callbacks/itrx").status_code == 405
    assert enqueued == []
    assert callback_rows(ledger) == []


def test_neither_the_secret_nor_the_signature_reaches_the_logs(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)
    receiver = Receiver(ledger)
    good_body, good_headers = signed(payload(sweep.address))
    bad_body, bad_headers = forged_signature(sweep)

    with capture_logs() as logs:
        receiver.post(good_body, good_headers)
        receiver.post(bad_body, bad_headers)
        receiver.post(*wrong_receive_address(sweep))

    text = repr(logs)
    assert {entry["event"] for entry in logs} >= {"callback.accepted", "callback.rejected"}
    for secret in (SECRET, good_headers["SIGNATURE"], bad_headers["SIGNATURE"]):
        assert secret not in text


def test_a_broker_failure_after_recording_answers_503(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger)

    def broker_down(_: int) -> None:
        raise ConnectionError("redis is down")

    client = TestClient(create_web_app(ledger, {"itrx": SECRET}, broker_down, clock=lambda: NOW))

    body, headers = signed(payload(sweep.address))
    response = client.post("/callbacks/itrx", content=body, headers=headers)

    assert (response.status_code, response.json()["error"]) == (503, "enqueue_failed")
    assert len(callback_rows(ledger)) == 1


# --- health and metrics -----------------------------------------------------------------------------


def test_healthz_reports_the_database(ledger: Ledger) -> None:
    response = Receiver(ledger).client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"ok": True, "db": "ok"})


def unreachable_ledger() -> Ledger:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused at once
        return Ledger(create_engine_for(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none"))


def test_healthz_and_metrics_say_so_when_the_database_is_down() -> None:
    down = unreachable_ledger()
    client = TestClient(create_web_app(down, {"itrx": SECRET}, lambda _: None))
    try:
        health = client.get("/healthz")
        metrics = client.get("/metrics")
    finally:
        down.engine.dispose()

    assert (health.status_code, health.json()) == (503, {"ok": False, "db": "unavailable"})
    assert metrics.status_code == 200
    assert "sweeper_ledger_up 0.0" in metrics.text


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


C = ("contract", USDT.contract)


def test_metrics_are_read_from_the_ledger_at_scrape_time(ledger: Ledger) -> None:
    clock = Clock()
    timed = Ledger(ledger.engine, clock=clock)
    confirmed = open_ordered_sweep(timed, "confirmed", "sw1a0o1")
    open_ordered_sweep(timed, "waiting", "sw2a0o1")
    clock.now += timedelta(seconds=42)
    assert timed.transition(
        confirmed.id, SweepState.ENERGY_ORDERED, SweepState.CONFIRMED, add_cost=3_250_000, txid="ab" * 32
    )
    timed.record_order_request(confirmed.id, "energy", "tronzap", "sw1a0o2", 65_000)
    timed.update_order("tronzap", "sw1a0o2", status=OrderRequestStatus.FAILED)
    timed.set_cursor("blocks", 900)
    client = Receiver(ledger, head_block=lambda: 1000).client

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("sweeper_ledger_up", ())] == 1
    assert found[("sweeper_sweeps", (C, ("state", "CONFIRMED"), ("token", "USDT")))] == 1
    assert found[("sweeper_sweeps", (C, ("state", "ENERGY_ORDERED"), ("token", "USDT")))] == 1
    assert found[("sweeper_sweeps", (C, ("state", "FAILED"), ("token", "USDT")))] == 0
    assert found[("sweeper_cost_sun_total", (C, ("token", "USDT")))] == 3_250_000
    assert found[("sweeper_confirmed_latency_seconds_count", (("token", "USDT"),))] == 1
    assert found[("sweeper_confirmed_latency_seconds_sum", (("token", "USDT"),))] == pytest.approx(
        42, abs=0.01
    )
    assert found[("sweeper_confirmed_latency_seconds_bucket", (("le", "30.0"), ("token", "USDT")))] == 0
    assert found[("sweeper_confirmed_latency_seconds_bucket", (("le", "60.0"), ("token", "USDT")))] == 1
    assert found[("sweeper_confirmed_latency_seconds_bucket", (("le", "+Inf"), ("token", "USDT")))] == 1
    assert not any(labels and dict(labels).get("quantile") for _, labels in found)  # promtool refuses those
    assert found[("sweeper_provider_errors_total", (("source", "tronzap"),))] == 1
    assert found[("sweeper_provider_orders_unknown", (("source", "itrx"),))] == 0
    assert found[("sweeper_oldest_open_sweep_age_seconds", ())] > 0  # "waiting" is still open
    assert found[("sweeper_scanner_cursor_block", (("cursor", "blocks"),))] == 900
    assert found[("sweeper_chain_head_block", ())] == 1000
    assert found[("sweeper_scanner_lag_blocks", (("cursor", "blocks"),))] == 100

    open_ordered_sweep(timed, "later", "sw3a0o1")
    again = samples(client.get("/metrics").text)
    assert again[("sweeper_sweeps", (C, ("state", "ENERGY_ORDERED"), ("token", "USDT")))] == 2


def test_metrics_show_charged_quoted_refunded_and_mismatched_sun_per_source(ledger: Ledger) -> None:
    sweep = open_ordered_sweep(ledger, "refunded", "sw1a0o1")
    ledger.record_order_request(sweep.id, "energy", "itrx", "sw1a0o2", 65_000, quoted_sun=3_900_000)
    ledger.update_order(
        "itrx", "sw1a0o2", status=OrderRequestStatus.FAILED, cost_sun=400_000, refunded_sun=3_500_000
    )
    ledger.record_order_request(sweep.id, "energy", "ea888fee", "sw1a0o3", 65_000, quoted_sun=860_000)
    ledger.update_order(
        "ea888fee", "sw1a0o3", status=OrderRequestStatus.DELIVERED, cost_sun=2_340_000, charge_mismatch=True
    )

    found = samples(Receiver(ledger).client.get("/metrics").text)

    assert found[("sweeper_energy_charged_sun_total", (("source", "itrx"),))] == 3_900_000
    assert found[("sweeper_energy_refunded_sun_total", (("source", "itrx"),))] == 3_500_000
    assert found[("sweeper_energy_quoted_sun_total", (("source", "ea888fee"),))] == 860_000
    assert found[("sweeper_energy_charged_sun_total", (("source", "ea888fee"),))] == 2_340_000
    assert found[("sweeper_energy_charge_mismatches_total", (("source", "ea888fee"),))] == 1
    assert found[("sweeper_energy_charge_mismatches_total", (("source", "itrx"),))] == 0


def test_metrics_show_the_kill_switch_spend_budget_crossings_and_quarantined_addresses(
    ledger: Ledger,
) -> None:
    client = Receiver(ledger).client
    quiet = samples(client.get("/metrics").text)
    assert quiet[("sweeper_spending_paused", ())] == 0
    assert quiet[("sweeper_budget_crossings_total", (("budget", "sun_per_hour"),))] == 0
    assert quiet[("sweeper_quarantined_addresses", ())] == 0

    sweep = open_ordered_sweep(ledger, "failed", "sw1a0o1")
    ledger.update_order("itrx", "sw1a0o1", status=OrderRequestStatus.DELIVERED, cost_sun=3_000_000)
    assert ledger.transition(sweep.id, SweepState.ENERGY_ORDERED, SweepState.FAILED, reason="onchain_revert")
    controls = SpendControls(ledger)
    controls.pause("incident")
    controls.record_crossing("sun_per_hour", "deployment", datetime.now(UTC), 9, 8)

    found = samples(client.get("/metrics").text)

    assert found[("sweeper_spending_paused", ())] == 1
    assert found[("sweeper_energy_spend_last_hour_sun", ())] == 3_000_000
    assert found[("sweeper_budget_crossings_total", (("budget", "sun_per_hour"),))] == 1
    assert found[("sweeper_budget_crossings_total", (("budget", "orders_per_address"),))] == 0
    assert found[("sweeper_quarantined_addresses", ())] == 1


def test_metrics_skip_the_scanner_lag_when_the_node_fails(ledger: Ledger) -> None:
    ledger.set_cursor("blocks", 900)

    def node_down() -> int:
        raise ConnectionError("node unreachable")

    response = Receiver(ledger, head_block=node_down).client.get("/metrics")

    assert response.status_code == 200
    assert "sweeper_scanner_cursor_block" in response.text
    assert "sweeper_scanner_lag_blocks" not in response.text


# --- the module-level app, served by a real uvicorn -------------------------------------------------


def test_the_lazy_app_builds_once_on_first_use_and_serves_under_uvicorn(ledger: Ledger) -> None:
    builds: list[int] = []

    def build() -> Any:
        builds.append(1)
        return create_web_app(ledger, {"itrx": SECRET}, lambda _: None)

    lazy = LazyApp(build)
    assert builds == []
    config = uvicorn.Config(lazy, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    started = threading.Event()
    sockets: list[socket.socket] = []

    def serve() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        started.set()
        server.run(sockets=[sock])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait()
    try:
        port = sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(200):
                if server.started:
                    break
                threading.Event().wait(0.05)
            first = client.get("/healthz")
            second = client.get("/healthz")
    finally:
        server.should_exit = True
        thread.join()

    assert first.json() == second.json() == {"ok": True, "db": "ok"}
    assert builds == [1]
