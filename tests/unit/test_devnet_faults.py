"""Fault settings: validation, counting down, and the middleware's injected errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from devnet.faults import NORMAL, FaultMiddleware, Faults

pytestmark = pytest.mark.unit


def test_unknown_targets_fields_and_rates_are_refused():
    faults = Faults()
    with pytest.raises(ValueError, match="target"):
        faults.set("binance", latency_ms=1)
    with pytest.raises(ValueError, match="fields"):
        faults.set("node", colour="red")
    with pytest.raises(ValueError, match="error_rate"):
        faults.set("node", error_rate=2)


def test_a_counted_fault_clears_itself_and_keeps_its_identity_until_then():
    faults = Faults()
    settings = faults.set("itrx", error_code=10001, count=2)
    faults.consume("itrx")
    assert faults.get("itrx") is settings and faults.remaining("itrx") == 1
    faults.consume("itrx")
    assert faults.get("itrx") is NORMAL


def test_the_middleware_answers_injected_errors_and_leaves_other_paths_alone():
    async def ok(_request):
        return JSONResponse({"ok": True})

    faults = Faults()
    app = Starlette(
        routes=[Route("/wallet/x", ok, methods=["POST"]), Route("/devnet/x", ok, methods=["POST"])]
    )
    wrapped = FaultMiddleware(app, faults, "node", prefixes=("/wallet",))
    faults.set("node", error_rate=1.0, status=502, count=1)

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(wrapped), base_url="http://t") as client:
            admin = await client.post("/devnet/x")
            failed = await client.post("/wallet/x")
            healed = await client.post("/wallet/x")
            return admin.status_code, failed.status_code, healed.status_code

    assert asyncio.run(run()) == (200, 502, 200)


def _one_request(faults: Faults) -> httpx.Response:
    async def ok(_request):
        return JSONResponse({"ok": True})

    app = FaultMiddleware(Starlette(routes=[Route("/wallet/x", ok, methods=["POST"])]), faults, "node")

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
            return await client.post("/wallet/x")

    return asyncio.run(run())


def test_a_status_without_a_rate_fails_every_request_with_trongrids_403_and_retry_after():
    faults = Faults()
    faults.set("node", status=403, retry_after=30, count=1)

    limited = _one_request(faults)

    assert limited.status_code == 403
    assert limited.headers["retry-after"] == "30"
    assert "suspended for 30s" in limited.json()["Error"]
    assert _one_request(faults).status_code == 200


def test_the_daily_quota_403_carries_the_text_tronpy_looks_for_and_429_has_no_header_unless_asked():
    faults = Faults()
    faults.set("node", status=403, daily_quota=True, count=1)
    assert "Exceed the user daily usage" in _one_request(faults).text
    faults.set("node", status=429, count=1)
    plain = _one_request(faults)
    assert plain.status_code == 429 and "retry-after" not in plain.headers


def test_java_trons_own_limiter_answers_http_200_with_an_error_body_and_no_retry_after():
    faults = Faults()
    faults.set("node", error_body="lack of computing resources", retry_after=5, count=1)

    limited = _one_request(faults)

    assert limited.status_code == 200 and "retry-after" not in limited.headers
    assert limited.json() == {"Error": "class java.lang.IllegalAccessException : lack of computing resources"}


def test_a_fault_with_a_duration_clears_itself_when_the_time_is_up(monkeypatch):
    clock = [1_000.0]
    monkeypatch.setattr("devnet.faults.time.monotonic", lambda: clock[0])
    faults = Faults()
    faults.set("node", status=503, duration=60)

    assert faults.get("node").status == 503
    clock[0] += 60
    assert faults.get("node") is NORMAL and faults.snapshot() == {}
    with pytest.raises(ValueError, match="duration"):
        faults.set("node", status=503, duration=0)
    with pytest.raises(ValueError, match="retry_after"):
        faults.set("node", status=503, retry_after=1.5)
