"""The operator console over real HTTP: sign-in, roles, CSRF, and each button's ledger effect.

The browser test (tests/e2e/test_console_browser.py) drives the same pages in Chromium; these cover the
refusals a browser would never send.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import redis
from celery import Celery
from starlette.testclient import TestClient

from config.web import WebSettings
from sweeper.ledger import Ledger
from sweeper.ledger.controls import SpendControls
from sweeper.models import SweepState
from tasks.console import Console, ConsoleConfig
from tasks.web import create_web_app
from tests.e2e.helpers import flushed_redis
from tests.fixtures.db import tron_address
from tests.integration.test_web_receiver import open_ordered_sweep

pytestmark = pytest.mark.integration

OPERATOR = ("ops", "operator-password-for-tests")
VIEWER = ("auditor", "viewer-password-for-tests")
SESSION_SECRET = "console-session-secret-for-tests-0123456789"
REDIS_DB = 6


def web_settings(**changes: str | None) -> WebSettings:
    values: dict[str, str | None] = {
        "operator": ":".join(OPERATOR),
        "viewer": ":".join(VIEWER),
        "session_secret": SESSION_SECRET,
    }
    values.update(changes)
    return WebSettings.model_validate(values)


@pytest.fixture
def broker() -> Iterator[tuple[Celery, redis.Redis]]:
    """A real Celery app on a Redis database of this test's own (nothing consumes it)."""
    with flushed_redis(REDIS_DB) as url:
        app = Celery("console-test", broker=url)
        client = redis.Redis.from_url(url)
        try:
            yield app, client
        finally:
            client.close()


def console_client(ledger: Ledger, celery: Celery) -> TestClient:
    config = ConsoleConfig.from_settings(web_settings())
    assert config is not None

    def send(name: str, **kwargs: object) -> str:
        return str(celery.send_task(name, kwargs=kwargs, queue="sweep").id)

    app = create_web_app(ledger, {}, lambda _: None, console=Console(config, ledger, send))
    return TestClient(app, base_url="http://console.test")


def signed_in(client: TestClient, user: tuple[str, str]) -> str:
    """Sign ``user`` in; returns the CSRF token of the dashboard's forms."""
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/console/login",
        data={"csrf": token.group(1), "user": user[0], "password": user[1]},
        follow_redirects=True,
    )
    assert done.status_code == 200 and f"{user[0]} (" in done.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', done.text)
    assert csrf is not None
    return csrf.group(1)


def failed_sweep(ledger: Ledger, seed: str = "failed") -> int:
    sweep = open_ordered_sweep(ledger, seed, f"{seed[:4]}a0o1")
    assert ledger.transition(sweep.id, SweepState.ENERGY_ORDERED, SweepState.FAILED, reason="onchain_revert")
    return sweep.id


def test_the_console_is_off_without_a_configured_user_and_refuses_a_short_session_secret() -> None:
    assert ConsoleConfig.from_settings(WebSettings()) is None
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        web_settings(session_secret="short")
    with pytest.raises(ValueError, match="user:password"):
        web_settings(operator="no-colon")


def test_the_console_is_not_served_when_off(ledger: Ledger) -> None:
    client = TestClient(create_web_app(ledger, {}, lambda _: None))
    assert client.get("/console").status_code == 404


def test_wrong_passwords_and_forged_sessions_get_no_page(
    ledger: Ledger, broker: tuple[Celery, redis.Redis]
) -> None:
    client = console_client(ledger, broker[0])
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/login"
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    wrong = client.post("/console/login", data={"csrf": token.group(1), "user": OPERATOR[0], "password": "x"})
    assert wrong.status_code == 401 and "wrong user or password" in wrong.text
    no_csrf = client.post("/console/login", data={"user": OPERATOR[0], "password": OPERATOR[1]})
    assert no_csrf.status_code == 403
    client.cookies.set("sweeper_console", "eyJ1Ijoib3BzIiwiciI6Im9wZXJhdG9yIn0.forged", path="/console")
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_an_operator_retries_a_failed_sweep_and_reopens_a_skipped_one(
    ledger: Ledger, broker: tuple[Celery, redis.Redis]
) -> None:
    client = console_client(ledger, broker[0])
    csrf = signed_in(client, OPERATOR)
    failed = failed_sweep(ledger)
    skipped = open_ordered_sweep(ledger, "skipped", "skipa0o1")
    assert ledger.transition(skipped.id, SweepState.ENERGY_ORDERED, SweepState.SKIPPED, reason="fee_cap")

    page = client.post(f"/console/sweeps/{failed}/retry", data={"csrf": csrf}, follow_redirects=True)
    assert f"sweep {failed} re-opened as DETECTED (attempt 1)" in page.text
    client.post(f"/console/sweeps/{skipped.id}/retry", data={"csrf": csrf})
    again = client.post(f"/console/sweeps/{failed}/retry", data={"csrf": csrf}, follow_redirects=True)

    for sweep_id in (failed, skipped.id):
        sweep = ledger.get_sweep(sweep_id)
        assert sweep is not None and (sweep.state, sweep.attempt) == (SweepState.DETECTED, 1)
    assert f"sweep {failed} is DETECTED: only FAILED or SKIPPED sweeps are re-opened" in again.text


def test_a_post_without_the_sessions_csrf_token_or_from_another_origin_changes_nothing(
    ledger: Ledger, broker: tuple[Celery, redis.Redis]
) -> None:
    client = console_client(ledger, broker[0])
    csrf = signed_in(client, OPERATOR)
    failed = failed_sweep(ledger)

    assert client.post(f"/console/sweeps/{failed}/retry", data={}).status_code == 403
    assert (
        client.post(
            f"/console/sweeps/{failed}/retry", data={"csrf": csrf[:-1] + ("1" if csrf.endswith("0") else "0")}
        ).status_code
        == 403
    )
    cross = client.post("/console/pause", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    proxied = {"Origin": "https://ops.example", "X-Forwarded-Host": "ops.example"}
    accepted = client.post("/console/resume", data={"csrf": csrf}, headers=proxied, follow_redirects=False)
    assert accepted.status_code == 303

    sweep = ledger.get_sweep(failed)
    assert sweep is not None and sweep.state is SweepState.FAILED
    assert not SpendControls(ledger).paused()


def test_a_viewer_sees_the_ledger_but_cannot_act(ledger: Ledger, broker: tuple[Celery, redis.Redis]) -> None:
    client = console_client(ledger, broker[0])
    failed = failed_sweep(ledger)
    csrf = signed_in(client, VIEWER)

    page = client.get("/console")
    assert "Read-only" in page.text and "onchain_revert" in page.text
    assert f'id="retry-{failed}"' not in page.text and 'id="pause"' not in page.text
    for path, data in (
        (f"/console/sweeps/{failed}/retry", {}),
        ("/console/pause", {}),
        ("/console/sweep", {}),
    ):
        assert client.post(path, data={"csrf": csrf, **data}).status_code == 403
    sweep = ledger.get_sweep(failed)
    assert sweep is not None and sweep.state is SweepState.FAILED
    assert not SpendControls(ledger).paused()


def test_the_operator_flips_the_kill_switch_and_queues_a_sweep_of_a_watched_address(
    ledger: Ledger, broker: tuple[Celery, redis.Redis]
) -> None:
    celery, queue = broker
    client = console_client(ledger, celery)
    csrf = signed_in(client, OPERATOR)
    watched = open_ordered_sweep(ledger, "watched", "wata0o1").address

    paused = client.post(
        "/console/pause", data={"csrf": csrf, "reason": "incident 42"}, follow_redirects=True
    )
    assert SpendControls(ledger).pause_state().note == "incident 42"
    assert "PAUSED" in paused.text and 'id="resume"' in paused.text
    client.post("/console/resume", data={"csrf": csrf})
    assert not SpendControls(ledger).paused()

    unwatched = client.post(
        "/console/sweep", data={"csrf": csrf, "address": tron_address("nobody")}, follow_redirects=True
    )
    assert "is not a watched deposit address: nothing queued" in unwatched.text
    assert queue.llen("sweep") == 0
    bad = client.post("/console/sweep", data={"csrf": csrf, "address": "T123"}, follow_redirects=True)
    assert "not a TRON base58 address: &#x27;T123&#x27;" in bad.text
    queued = client.post("/console/sweep", data={"csrf": csrf, "address": watched}, follow_redirects=True)
    assert f"queued sweeper.sweep_address for {watched}" in queued.text
    assert queue.llen("sweep") == 1


def test_sessions_carry_no_secret_and_are_http_only(
    ledger: Ledger, broker: tuple[Celery, redis.Redis]
) -> None:
    client = console_client(ledger, broker[0])
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post(
        "/console/login",
        data={"csrf": token.group(1), "user": OPERATOR[0], "password": OPERATOR[1]},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert OPERATOR[1] not in cookie and SESSION_SECRET not in cookie
    assert isinstance(response, httpx.Response)
