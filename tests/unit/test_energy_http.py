"""The shared HTTP layer retries only what is safe and maps every httpx failure to the project's errors."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from sweeper.energy.http import ProviderHttp, ResponseLost, RetryPolicy, retry_after_seconds
from sweeper.errors import ProviderUnavailable

pytestmark = pytest.mark.unit


class Script:
    """A transport that plays a list of outcomes (an exception class or a status code) in order."""

    def __init__(self, *outcomes: type[Exception] | int | Callable[[httpx.Request], httpx.Response]) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, int):
            return httpx.Response(outcome, json={"ok": outcome})
        if isinstance(outcome, type):
            raise outcome("scripted", request=request)
        return outcome(request)


def make(script: Script, attempts: int = 3) -> tuple[ProviderHttp, list[float]]:
    sleeps: list[float] = []
    http = ProviderHttp(
        httpx.Client(transport=httpx.MockTransport(script)),
        "http://provider.test/",
        provider="p",
        retry=RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=2.0),
        sleep=sleeps.append,
        rng=lambda: 1.0,
    )
    return http, sleeps


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
@pytest.mark.parametrize("idempotent", [True, False])
def test_a_request_that_never_left_is_retried_even_for_an_order(exc, idempotent):
    script = Script(exc, exc, 200)
    http, sleeps = make(script)
    reply = http.request("POST", "/order", idempotent=idempotent, content=b"{}")
    assert reply.status_code == 200
    assert len(script.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_connection_failures_that_persist_become_provider_unavailable():
    http, _ = make(Script(httpx.ConnectError, httpx.ConnectError, httpx.ConnectError))
    with pytest.raises(ProviderUnavailable) as info:
        http.request("GET", "/x", idempotent=True)
    assert info.value.reason == "provider_unreachable"
    assert not isinstance(info.value, ResponseLost)


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
def test_a_lost_answer_to_an_order_is_not_resent(exc):
    script = Script(exc, 200)
    http, _ = make(script)
    with pytest.raises(ResponseLost):
        http.request("POST", "/order", idempotent=False, content=b"{}")
    assert len(script.requests) == 1


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_a_lost_answer_to_a_read_is_retried(exc):
    script = Script(exc, 200)
    http, _ = make(script)
    assert http.request("GET", "/price", idempotent=True).status_code == 200
    assert len(script.requests) == 2


def test_server_errors_are_retried_for_reads_only():
    script = Script(502, 503, 200)
    http, _ = make(script)
    assert http.request("GET", "/price", idempotent=True).status_code == 200
    order_script = Script(500, 200)
    order_http, _ = make(order_script)
    with pytest.raises(ResponseLost):
        order_http.request("POST", "/order", idempotent=False, content=b"{}")
    assert len(order_script.requests) == 1


def test_a_read_that_keeps_failing_server_side_is_provider_unavailable():
    http, _ = make(Script(500, 500, 500))
    with pytest.raises(ProviderUnavailable) as info:
        http.request("GET", "/price", idempotent=True)
    assert not isinstance(info.value, ResponseLost)


def test_429_is_retried_after_the_time_the_provider_asks_for_even_for_orders():
    limited = lambda request: httpx.Response(429, headers={"Retry-After": "1.5"})  # noqa: E731
    script = Script(limited, 200)
    http, sleeps = make(script)
    assert http.request("POST", "/order", idempotent=False, content=b"{}").status_code == 200
    assert sleeps == [1.5]


def test_429_asking_for_too_long_a_wait_is_not_waited_for():
    limited = lambda request: httpx.Response(429, headers={"Retry-After": "3600"})  # noqa: E731
    http, sleeps = make(Script(limited, 200))
    with pytest.raises(ProviderUnavailable) as info:
        http.request("GET", "/x", idempotent=True)
    assert info.value.reason == "rate_limited"
    assert sleeps == []


def test_client_errors_are_returned_to_the_caller_to_map():
    http, _ = make(Script(400))
    reply = http.request("POST", "/order", idempotent=False, content=b"{}")
    assert reply.status_code == 400 and reply.json() == {"ok": 400}


def test_backoff_is_capped_and_fully_jittered():
    policy = RetryPolicy(base_delay=0.5, max_delay=2.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert policy.backoff(3, lambda: 0.25) == 0.5
    assert policy.backoff(3, lambda: 0.0) == 0.0


def test_decimals_in_answers_are_parsed_as_decimal_not_float():
    http, _ = make(Script(lambda r: httpx.Response(200, content=b'{"amount": 8.2}')))
    assert http.request("GET", "/x", idempotent=True).json() == {"amount": Decimal("8.2")}


def test_the_exact_bytes_and_headers_are_sent():
    script = Script(200)
    http, _ = make(script)
    http.request("POST", "/v1/order", idempotent=False, content=b'{"a":1}', headers={"X-Signature": "abc"})
    sent = script.requests[0]
    assert sent.content == b'{"a":1}'
    assert sent.headers["X-Signature"] == "abc"
    assert str(sent.url) == "http://provider.test/v1/order"


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None
