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
