"""The composition root: every adapter is built once per worker process and injected into the domain."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import structlog

from config.logging import configure_logging, register_secrets
from config.secrets import find_secrets
from config.settings import Settings, load_settings
from sweeper import failpoints
from sweeper.assets import EnergyPolicy
from sweeper.chain import TronChain
from sweeper.chain.clock import ChainClock
from sweeper.energy import quote_cache
from sweeper.energy.base import EnergySource
from sweeper.energy.health import CircuitBreaker
from sweeper.energy.journal import TxJournal
from sweeper.flow import Flow, FlowConfig
from sweeper.keys import Keyring
from sweeper.ledger.clock import LedgerClock
from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.repository import Ledger
from sweeper.locks import AddressLocks, LocalLocks
from sweeper.models import Token
from tasks.custody import build_keyring, mnemonic_index, mnemonic_of  # noqa: F401 - re-exported
from tasks.locks import FileLocks, RedisLocks
from tasks.sources import build_http_client, build_sources

log = structlog.get_logger("sweeper.runtime")


@dataclass
class Runtime:
    """Everything a worker process needs, built from settings once."""

    settings: Settings
    http: httpx.Client
    chain: TronChain
    ledger: Ledger
    keyring: Keyring
    sources: dict[str, EnergySource]
    breakers: dict[str, CircuitBreaker]
    flow: Flow
    redis: redis.Redis | None
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.http.close()
        self.chain.close()  # the node's own urllib3 pool (the providers' client is ``http``)
        close = getattr(self.keyring, "close", None)
        if close is not None:
            close()  # the signer client's own HTTP connections
        self.ledger.dispose()


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret (each ``SecretStr`` in the settings), so the log redactor can mask it."""
    return find_secrets(settings)


def journal(ledger: Ledger, source: str) -> TxJournal:
    """Stake and burn keep their signed transactions in the ledger, so a crash never re-signs blindly."""
    from sweeper.ledger.journal import LedgerJournal

    return LedgerJournal(ledger, source)


def flow_config(settings: Settings) -> FlowConfig:
    """Per-token facts keyed by contract: two tokens sharing a symbol keep their own destinations."""
    tokens = {t.contract: Token(t.symbol, t.contract, t.decimals, t.min_amount) for t in settings.tokens}
    budget = settings.budget
    return FlowConfig(
        tokens=tokens,
        destinations=settings.destinations(),
        max_orders_per_sweep=budget.orders_per_sweep,
        max_orders_per_address=budget.orders_per_address,
        address_window_seconds=budget.address_window_seconds,
        max_sun_per_hour=budget.sun_per_hour,
        max_sweeps_in_flight=budget.sweeps_in_flight,
        own_wallets=frozenset(settings.own_wallets()),
        confirmations=settings.confirmations,
        energy=EnergyPolicy(
            margin=settings.energy.margin,
            margin_percent=settings.energy.margin_percent,
            ceiling=settings.energy.max_energy_per_transfer,
            max_fee_limit_sun=settings.energy.max_fee_limit_sun,
            cache_seconds=settings.energy.measure_cache_seconds,
        ),
        max_sun_per_sweep=settings.energy.max_sun_per_sweep,
        max_percent_of_amount=settings.energy.max_percent_of_amount,
        trx_per_token={t.contract: t.trx_per_token for t in settings.tokens if t.trx_per_token is not None},
        dry_run=settings.dry_run,
        poll_seconds=settings.poll_seconds,
        order_timeout_seconds=settings.order_timeout_seconds,
        leftover_trx_min_sun=settings.leftover_trx_min_sun if settings.sweep_leftover_trx else None,
    )


def build_locks(settings: Settings, client: redis.Redis | None) -> AddressLocks:
    if client is not None:
        return RedisLocks(client)
    if settings.broker_url.startswith("sqla+sqlite"):
        db = settings.broker_url.split(":///", 1)[-1]
        return FileLocks(Path(db).parent / "locks")
    return LocalLocks()


def arm_failpoints(environ: Mapping[str, str]) -> None:
    """Crash tests only: arm ``SWEEPER_FAILPOINTS`` ("after_order_sent=kill:1,..."), once per run with
    ``SWEEPER_FAILPOINTS_STATE`` (a directory of markers shared by every worker process)."""
    spec = environ.get("SWEEPER_FAILPOINTS", "")
    marker = environ.get("SWEEPER_FAILPOINTS_STATE") or None
    for name, action, nth in failpoints.parse(spec):
        failpoints.arm(name, action, nth=nth, marker=marker)
        log.warning("failpoint.armed", failpoint=name, action=action, nth=nth)


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or load_settings()
    configure_logging(settings.log_format, settings.log_level)
    arm_failpoints(os.environ)
    register_secrets(secret_values(settings))
    http = build_http_client()  # the providers'; the node has a transport of its own (urllib3)
    chain = TronChain(
        str(settings.tron.node_url),
        api_key=settings.tron.api_key.get_secret_value() if settings.tron.api_key else None,
        timeout=settings.tron.timeout,
        reference_address=settings.destination_of(settings.tokens[0].contract),
    )
    engine = create_engine_for(settings.database_url, pool_pre_ping=settings.database_pre_ping)
    clock = LedgerClock(engine)  # one clock for every host's ledger times (sweeper/ledger/clock.py)
    ledger = Ledger(engine, clock=clock.now)
    keyring = build_keyring(settings, ledger, clock_ms=ChainClock(chain.head_block))
    sources = quote_cache.cached(
        build_sources(settings, http, chain, keyring.signer_for, journal_for=lambda n: journal(ledger, n)),
        settings.energy.quote_cache_seconds,
    )
    breakers = {
        name: CircuitBreaker(
            name,
            failures=settings.energy.breaker_failures,
            reset_seconds=settings.energy.breaker_reset_seconds,
        )
        for name in sources
    }
    client = redis.Redis.from_url(settings.broker_url) if settings.broker_url.startswith("redis") else None
    flow = Flow(
        ledger=ledger,
        chain=chain,
        sources=sources,
        keyring=keyring,
        config=flow_config(settings),
        locks=build_locks(settings, client),
        breakers=breakers,
        clock=clock,
    )
    return Runtime(settings, http, chain, ledger, keyring, sources, breakers, flow, client)


_lock = threading.Lock()
_built: dict[str, Runtime] = {}


def runtime() -> Runtime:
    """This process's runtime, built on first use (after a fork, each child builds its own)."""
    with _lock:
        if "runtime" not in _built:
            _built["runtime"] = build_runtime()
        return _built["runtime"]


def reset_runtime() -> None:
    """Forget the runtime (a forked child must not reuse its parent's connections)."""
    with _lock:
        _built.pop("runtime", None)
