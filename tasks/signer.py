"""The signer service (``sweeper signer``): the only process that holds keys in the production shape.

It answers authenticated requests only (``sweeper/custody/auth.py``) and signs only what the signing
policy allows (``sweeper/custody/policy.py``), recomputing every txid from the raw data itself:

    POST /v1/sign       {"address", "raw_data", "intent"} → 200 {"txid", "signature"}
    POST /v1/can-sign   {"address"}                       → 200 {"address", "holds": true}
    GET  /healthz, /metrics (Prometheus: refusals by reason, signatures by kind; no secrets)

    401 unauthenticated (unsigned, bad signature, stale, replayed)   403 refused by the policy
    404 no key for the address   429 the address's rate limit   400 a malformed body

Every refusal is a security event: counted (``sweeper_signer_refusals_total{reason}``) and logged as
one ``security.signing_refused`` line. Run exactly one process: nonces and rate limits live in memory.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.logging import configure_logging, register_secrets
from config.secrets import find_secrets
from config.settings import Settings
from sweeper.chain.intent import Intent
from sweeper.custody.auth import AuthRefused, Verifier
from sweeper.custody.guarded import PolicyKeyring, PolicySigner
from sweeper.custody.policy import SigningPolicy
from sweeper.errors import ConfigError, SignerRejected, SigningRefused, SigningThrottled, UnknownKey
from sweeper.keys.remote import CAN_SIGN_PATH, SIGN_PATH
from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.repository import Ledger
from tasks.custody import hmac_key, holds_keys, local_keyring, signing_policy

log = structlog.get_logger("sweeper.signer")
MAX_BODY = 64 * 1024


@dataclass
class SignerService:
    """The keys behind the policy, the request verifier, and the counters ``/metrics`` shows."""

    keyring: PolicyKeyring
    verifier: Verifier
    signed: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def policy(self) -> SigningPolicy:
        return self.keyring.policy

    def authenticate(self, path: str, headers: Any, body: bytes) -> None:
        try:
            self.verifier.verify("POST", path, headers, body)
        except AuthRefused as exc:
            self.policy.refused(exc.reason, str(exc), path=path)
            raise

    def sign(self, body: dict[str, Any]) -> dict[str, str]:
        address = _address(body)
        raw = body.get("raw_data")
        try:
            intent = Intent.from_json(body.get("intent"))
        except ValueError as exc:
            self.policy.refused("malformed", f"intent: {exc}", signer=address)
            raise SigningRefused(f"the intent is malformed: {exc}", reason="malformed") from None
        if not isinstance(raw, dict):
            self.policy.refused("malformed", "raw_data is not an object", signer=address)
            raise SigningRefused("raw_data is not an object", reason="malformed")
        signer = self._signer(address)
        verdict, signature = signer.sign_judged(raw, intent)
        with self._lock:
            self.signed[verdict.kind] += 1
        return {"txid": verdict.txid, "signature": signature.hex()}

    def can_sign(self, body: dict[str, Any]) -> dict[str, Any]:
        address = _address(body)
        self._signer(address)
        policy = self.policy
        if address not in policy.own_wallets() and not policy.is_watched(address):
            policy.refused("not_watched", f"{address} is held but neither watched nor one of our wallets")
            raise SigningRefused(f"{address} is not a watched address", reason="not_watched")
        return {"address": address, "holds": True}

    def _signer(self, address: str) -> PolicySigner:
        try:
            return self.keyring.signer_for(address)
        except UnknownKey as exc:
            self.policy.refused("unknown_key", str(exc), signer=address)
            raise


def _address(body: dict[str, Any]) -> str:
    address = body.get("address")
    if not isinstance(address, str) or not address.startswith("T") or len(address) != 34:
        raise SigningRefused("the request names no address", reason="malformed")
    return address


class _Counters(Collector):
    def __init__(self, service: SignerService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        refusals = CounterMetricFamily(
            "sweeper_signer_refusals", "Requests the signer refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(self._service.policy.refusals.items()):
            refusals.add_metric([reason], count)
        yield refusals
        signed = CounterMetricFamily("sweeper_signer_signed", "Transactions signed, by kind", labels=["kind"])
        for kind, count in sorted(self._service.signed.items()):
            signed.add_metric([kind], count)
        yield signed


def build_service(settings: Settings) -> SignerService:
    """The service from settings; ``ConfigError`` without a request key or without any key to hold."""
    key = hmac_key(settings)
    problems = []
    if key is None:
        problems.append("the signer needs SWEEPER_SIGNER__HMAC_KEY_FILE (the request key workers share)")
    if not holds_keys(settings):
        problems.append(
            "the signer holds no key: set SWEEPER_KEYS__MNEMONIC_FILE and/or SWEEPER_KEYS__KEYSTORE_DIR"
        )
    if settings.keys.remote_signer_url is not None:
        problems.append("the signer itself must not have SWEEPER_KEYS__REMOTE_SIGNER_URL")
    if problems:
        raise ConfigError(problems)
    assert key is not None
    ledger = Ledger(create_engine_for(settings.database_url))
    keyring = PolicyKeyring(local_keyring(settings, ledger), signing_policy(settings, ledger))
    window_ms = int(settings.signer.request_window_seconds * 1000)
    return SignerService(keyring, Verifier(key, window_ms))


def create_app(settings: Settings) -> Starlette:
    configure_logging(settings.log_format, settings.log_level)
    register_secrets(find_secrets(settings))
    service = build_service(settings)
    registry = CollectorRegistry()
    registry.register(_Counters(service))

    async def handle(request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"reason": "too_large"}, status_code=413)
        try:
            service.authenticate(path, request.headers, body)
        except AuthRefused as exc:
            return JSONResponse({"reason": exc.reason}, status_code=401)
        try:
            parsed = json.loads(body)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
        except ValueError:
            service.policy.refused("malformed", "the body is not a JSON object", path=path)
            return JSONResponse({"reason": "malformed"}, status_code=400)
        action = service.sign if path == SIGN_PATH else service.can_sign
        try:
            answer = await run_in_threadpool(action, parsed)
        except UnknownKey:
            return JSONResponse({"reason": "unknown_key"}, status_code=404)
        except SigningThrottled as exc:
            return JSONResponse({"reason": exc.reason, "detail": str(exc)}, status_code=429)
        except SigningRefused as exc:
            return JSONResponse({"reason": exc.reason, "detail": str(exc)}, status_code=403)
        except SignerRejected as exc:
            return JSONResponse({"reason": exc.reason}, status_code=403)
        return JSONResponse(answer)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route(SIGN_PATH, handle, methods=["POST"]),
            Route(CAN_SIGN_PATH, handle, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
