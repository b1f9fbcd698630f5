"""``sweeper doctor``: every live dependency of a deployment checked at once, one verdict per line.

Each check reads (never orders, never signs a transaction: the key check signs a random digest that
is no transaction) and turns any failure into a named problem with its fix, so the operator's first
question, "what is broken?", has a one-command answer. The number of problems is the exit status.
Keys are reached through the ``Signer`` interface only, so a remote signer is checked like a local key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import select

from config.settings import Settings
from sweeper.chain import TronChain
from sweeper.chain.intent import Intent
from sweeper.detect.scanner import CURSOR
from sweeper.energy.base import EnergySource
from sweeper.errors import ChainUnavailable, ProviderAuthError, SweeperError
from sweeper.keys import Keyring
from sweeper.ledger import Ledger, create_engine_for
from sweeper.ledger.clock import LedgerClock
from sweeper.ledger.migrate import current_revision
from sweeper.ledger.tables import Base
from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, SUN_PER_TRX

TIMEOUT_S = 5.0
HEAD_MAX_AGE_S = 60.0
"""A head block older than this: the node is not following the chain (TRON makes a block every 3 s)."""
CLOCK_MAX_OFFSET_S = 5.0
"""Ledger times are the database's (sweeper/ledger/clock.py), but Celery's countdowns are each host's own."""
KEYS_CHECKED = 1_000
"""At most this many watched addresses are resolved to a signer (a sample of a large watch list)."""
NETWORKS = {"2b6653dc": "mainnet", "cd8690dc": "nile", "94a9059e": "shasta"}
"""The last 4 bytes of block 0's id per public network (TRON's ``eth_chainId``; docs/TRON.md §16)."""


class Verdict(StrEnum):
    OK = "ok"
    PROBLEM = "PROBLEM"
    INFO = "info"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, the verdict, what was seen, and what to do."""

    area: str
    item: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict.value}


def ok(area: str, item: str, detail: str) -> Check:
    return Check(area, item, Verdict.OK, detail)


def problem(area: str, item: str, detail: str, fix: str) -> Check:
    return Check(area, item, Verdict.PROBLEM, " ".join(detail.split()), fix)


def info(area: str, item: str, detail: str) -> Check:
    return Check(area, item, Verdict.INFO, detail)


def skipped(area: str, item: str, detail: str) -> Check:
    return Check(area, item, Verdict.SKIPPED, detail)


def problems(checks: list[Check]) -> int:
    return sum(1 for c in checks if c.verdict is Verdict.PROBLEM)


@dataclass
class Context:
    """What the checks share: settings, one HTTP client, the chain and the ledger (when they answer)."""

    settings: Settings
    http: httpx.Client
    chain: TronChain
    ledger: Ledger | None = None
    node_up: bool = False
    broker_up: bool = False


# --- node -------------------------------------------------------------------------------------------


def check_node(ctx: Context) -> Iterator[Check]:
    url = str(ctx.settings.tron.node_url)
    fix = f"start the node or fix SWEEPER_TRON__NODE_URL ({url})"
    try:
        head = ctx.chain.head_block()
    except ChainUnavailable as exc:
        limited = exc.reason in ("node_rate_limited", "http_429", "http_403", "http_503")
        if limited:
            wait = f"; retry after {exc.retry_after:.0f} s" if exc.retry_after else ""
            yield problem(
                "node", "rate limit", f"{url} rate-limits us: {exc}{wait}", "set SWEEPER_TRON__API_KEY"
            )
        else:
            yield problem("node", "reachable", f"{url}: {exc}", fix)
        return
    except SweeperError as exc:
        yield problem("node", "reachable", f"{url}: {exc}", fix)
        return
    ctx.node_up = True
    age = time.time() - head.timestamp_ms / 1000
    yield ok("node", "reachable", f"{url}: head block {head.number:,}")
    if age > HEAD_MAX_AGE_S:
        yield problem(
            "node",
            "head age",
            f"the head block is {age:.0f} s old",
            "the node is not syncing: check its peers",
        )
    else:
        yield ok("node", "head age", f"{max(age, 0):.0f} s")
    yield ok("node", "rate limit", "answered without a limit")
    try:
        suffix = ctx.chain.genesis_block_id()[-8:].lower()
    except SweeperError as exc:
        yield info("node", "network", f"unknown ({exc})")
        return
    yield info("node", "network", NETWORKS.get(suffix, f"not a public network (chain id 0x{suffix})"))


# --- broker, database ---------------------------------------------------------------------------------


def check_broker(ctx: Context) -> Iterator[Check]:
    from kombu import Connection

    url = _masked(ctx.settings.broker_url)
    try:
        with Connection(ctx.settings.broker_url, connect_timeout=TIMEOUT_S) as conn:
            conn.ensure_connection(max_retries=0, timeout=int(TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - each transport raises its own errors; any means down
        yield problem("broker", "reachable", f"{url}: {exc}", "start Redis or fix SWEEPER_BROKER_URL")
        return
    ctx.broker_up = True
    yield ok("broker", "reachable", url)


def head_revision() -> str | None:
    """The newest migration this release ships."""
    from alembic.script import ScriptDirectory

    from sweeper.ledger.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def check_database(ctx: Context) -> Iterator[Check]:
    url = _masked(ctx.settings.database_url)
    fix = "start the database or fix SWEEPER_DATABASE_URL"
    try:
        engine = create_engine_for(ctx.settings.database_url)
        revision = current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means the ledger cannot be used
        yield problem("database", "reachable", f"{url}: {exc}", fix)
        return
    yield ok("database", "reachable", url)
    shipped = head_revision()
    if revision != shipped:
        yield problem(
            "database",
            "migrations",
            f"at {revision or 'no revision'}, this release needs {shipped}",
            "run `sweeper migrate`",
        )
        engine.dispose()
        return
    yield ok("database", "migrations", f"at head ({revision})")
    ctx.ledger = Ledger(engine)
    clock = LedgerClock(engine)
    clock()
    if abs(clock.offset) > CLOCK_MAX_OFFSET_S:
        yield problem(
            "database",
            "clock",
            f"this host's clock is {clock.offset:+.1f} s off the database server's",
            "run NTP (chrony, systemd-timesyncd) on every host",
        )
    elif engine.dialect.name == "postgresql":
        yield ok("database", "clock", f"this host is {clock.offset:+.1f} s off the database server")


# --- providers ----------------------------------------------------------------------------------------


class AddressOnly:
    """A signer that knows its address but holds no key: providers are only asked for prices here."""

    def __init__(self, address: str) -> None:
        self._address = address

    @property
    def address(self) -> str:
        return self._address

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        raise SweeperError("doctor signs nothing for a provider")

    def probe(self) -> None:
        raise SweeperError("doctor signs nothing for a provider")


def check_providers(ctx: Context) -> Iterator[Check]:
    from tasks.sources import build_sources

    if not ctx.settings.energy.order:
        yield problem("provider", "sources", "no energy source enabled", "set SWEEPER_ENERGY__ORDER")
        return
    try:
        sources = build_sources(ctx.settings, ctx.http, ctx.chain, signer_for=AddressOnly)
    except SweeperError as exc:
        yield problem("provider", "sources", str(exc), "fix the SWEEPER_ENERGY__* settings")
        return
    destination = next(iter(ctx.settings.destinations().values()), None)
    for name, source in sources.items():
        yield from _check_source(name, source, destination)


def _check_source(name: str, source: EnergySource, destination: str | None) -> Iterator[Check]:
    area = f"provider {name}"
    prefix = f"SWEEPER_ENERGY__{name.upper()}__"
    try:
        balance = source.balance()
    except ProviderAuthError as exc:
        yield problem(area, "credentials", str(exc), f"check {prefix}* (keys, secret, allowed IPs)")
        return
    except SweeperError as exc:
        yield problem(area, "reachable", f"{exc.reason}: {exc}", f"check {prefix}BASE_URL and the service")
        return
    yield ok(area, "credentials", "accepted")
    if balance <= 0:
        what = "nothing to delegate" if source.capabilities.reclaim else "no balance"
        yield problem(area, "balance", f"{what} (0 TRX)", "top the account up (or stake TRX for `stake`)")
    else:
        yield ok(area, "balance", f"{balance / SUN_PER_TRX:,.6f} TRX")
    if destination is None:
        return
    try:
        quote = source.quote(destination, ENERGY_TRANSFER_TO_HOLDER, to=destination)
    except SweeperError as exc:
        yield info(area, "price", f"no quote ({exc.reason}: {exc})")
        return
    yield ok(area, "price", f"{quote.total_sun / SUN_PER_TRX:,.6f} TRX for {quote.energy:,} energy")


# --- keys and wallets ---------------------------------------------------------------------------------


def can_sign(keyring: Keyring, address: str) -> str | None:
    """Ask ``address``'s signer whether it can sign (``Signer.probe``: nothing is signed); None if it can.

    No digest is ever signed here: a signer signs only transactions it can read (docs/SECURITY.md).
    """
    try:
        keyring.signer_for(address).probe()
    except SweeperError as exc:
        return f"{exc.reason}: {exc}"
    return None


def _keyring(ctx: Context) -> tuple[Keyring | None, str | None]:
    from tasks.custody import build_keyring

    assert ctx.ledger is not None
    try:
        return build_keyring(ctx.settings, ctx.ledger, lambda: int(time.time() * 1000)), None
    except SweeperError as exc:
        return None, str(exc)


def check_keys(ctx: Context) -> Iterator[Check]:
    if ctx.ledger is None:
        yield skipped("keys", "watched addresses", "the ledger is not available")
        return
    keyring, error = _keyring(ctx)
    if keyring is None:
        yield problem("keys", "key sources", error or "", "fix SWEEPER_KEYS__*")
        return
    total = ctx.ledger.address_count()
    batch = next(ctx.ledger.iter_addresses(batch_size=KEYS_CHECKED), [])
    missing: list[str] = []
    for address in batch:
        try:
            keyring.signer_for(address)
        except SweeperError:
            missing.append(address)
    scope = f"{len(batch):,} of {total:,}" if total > len(batch) else f"{total:,}"
    if missing:
        yield problem(
            "keys",
            "watched addresses",
            f"{len(missing)} of {scope} checked have no key, e.g. {missing[0]}",
            "configure the key source that holds them (SWEEPER_KEYS__*) or stop watching them",
        )
    elif total:
        yield ok("keys", "watched addresses", f"{scope} resolve to a signer")
    else:
        yield info("keys", "watched addresses", "none watched yet (`sweeper addresses derive`)")
    sample = next((a for a in batch if a not in missing), None)
    if sample is not None:
        failure = can_sign(keyring, sample)
        if failure:
            yield problem("keys", "can sign", f"{sample}: {failure}", "check the signer of that key")
        else:
            yield ok("keys", "can sign", f"{sample}: its signer can sign (probed, nothing signed)")
    for address, what in _signing_wallets(ctx.settings).items():
        failure = can_sign(keyring, address)
        if failure:
            yield problem("keys", what, f"{address}: {failure}", "put its key in the keystore or the signer")
        else:
            yield ok("keys", what, f"{address}: its signer can sign (probed, nothing signed)")


def _signing_wallets(settings: Settings) -> dict[str, str]:
    """Our wallets that must sign (the stake owner, the gas wallet) of enabled sources."""
    found: dict[str, str] = {}
    for name in settings.energy.order:
        spec = settings.energy.registry[name]
        for address, variable in spec.wallet_addresses(settings.energy.provider(name)).items():
            found.setdefault(address, f"{name} wallet ({variable})")
    return found


def check_wallets(ctx: Context) -> Iterator[Check]:
    destinations = sorted(set(ctx.settings.destinations().values()))
    watched: set[str] = set()
    if ctx.ledger is not None:
        try:
            watched = set(ctx.ledger.is_watched(ctx.settings.own_wallets()))
        except SweeperError:
            watched = set()
    for address in destinations:
        if address in watched:
            yield problem(
                "wallet",
                "destination",
                f"{address} is on the watch list",
                "remove our hot wallet from the deposit addresses",
            )
            continue
        if not ctx.node_up:
            yield ok("wallet", "destination", f"{address} (not on the watch list)")
            continue
        try:
            activated = ctx.chain.is_activated(address)
        except SweeperError as exc:
            yield info("wallet", "destination", f"{address}: not read ({exc.reason})")
            continue
        state = "activated" if activated else "not activated yet (its first deposit costs more energy)"
        yield ok("wallet", "destination", f"{address}: {state}, not watched")
    for address in sorted(watched - set(destinations)):
        yield problem(
            "wallet",
            "own wallet watched",
            f"{address}, {ctx.settings.own_wallets()[address]}, is on the watch list",
            "remove it from the deposit addresses",
        )
    if ctx.node_up:
        yield from _gas(ctx)


def _gas(ctx: Context) -> Iterator[Check]:
    if "burn" not in ctx.settings.energy.order:
        return
    burn = ctx.settings.energy.provider("burn")
    wallet = getattr(burn, "gas_wallet", None)
    cap = int(getattr(burn, "max_sun_per_sweep", 0) or 0)
    if not isinstance(wallet, str):
        return
    try:
        balance = ctx.chain.trx_balance(wallet)
    except SweeperError as exc:
        yield info("wallet", "gas", f"{wallet}: not read ({exc.reason})")
        return
    if balance < cap:
        yield problem(
            "wallet",
            "gas",
            f"{wallet} holds {balance / SUN_PER_TRX:,.6f} TRX, less than one sweep may burn",
            "send TRX to the gas wallet",
        )
    else:
        yield ok("wallet", "gas", f"{wallet}: {balance / SUN_PER_TRX:,.6f} TRX")


# --- processes, callbacks -------------------------------------------------------------------------------


def check_workers(ctx: Context) -> Iterator[Check]:
    if not ctx.broker_up:
        yield skipped("workers", "alive", "the broker is not reachable")
        return
    from celery import Celery

    from config.celery import celery_settings

    client = Celery("sweeper-doctor")
    client.conf.update(celery_settings(ctx.settings.broker_url, None))
    try:
        replies = client.control.ping(timeout=2.0) or []
    except Exception as exc:  # noqa: BLE001 - a broker that drops the broadcast: no worker answered
        yield problem("workers", "alive", f"ping failed: {exc}", "start a worker (`make worker`)")
        return
    finally:
        client.close()
    names = sorted(name for reply in replies for name in reply)
    if not names:
        yield problem("workers", "alive", "no worker answered a ping", "start a worker (`make worker`)")
    else:
        yield ok("workers", "alive", f"{len(names)} answered: {', '.join(names)}")


def beat_limit(settings: Settings) -> float:
    """How old the scanner's last run may be before beat (or the scan queue's worker) looks dead."""
    return max(HEAD_MAX_AGE_S, 20 * settings.scan_interval_seconds)


def check_beat(ctx: Context) -> Iterator[Check]:
    """Beat's heartbeat: the block scanner it schedules every few seconds stores its cursor each run."""
    if ctx.ledger is None:
        yield skipped("beat", "alive", "the ledger is not available")
        return
    table = Base.metadata.tables["scanner_cursor"]
    with ctx.ledger.engine.connect() as conn:
        stamp = conn.execute(select(table.c.updated_at).where(table.c.name == CURSOR)).scalar_one_or_none()
    fix = "start beat (`make beat`) and a worker for the scan queue"
    if stamp is None:
        yield problem("beat", "alive", "the block scanner never ran", fix)
        return
    when = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    age = (ctx.ledger.now() - when).total_seconds()
    if age > beat_limit(ctx.settings):
        yield problem("beat", "alive", f"the block scanner last ran {age:.0f} s ago", fix)
    else:
        yield ok("beat", "alive", f"the block scanner ran {max(age, 0):.0f} s ago")


def check_callback(ctx: Context) -> Iterator[Check]:
    url = ctx.settings.callback_public_url
    if url is None:
        yield skipped("callback", "public URL", "SWEEPER_CALLBACK_PUBLIC_URL is not set")
        return
    target = str(url).rstrip("/") + "/healthz"
    try:
        answer = ctx.http.get(target, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        yield problem(
            "callback", "public URL", f"{target}: {exc}", "expose the receiver (`sweeper web`) at that URL"
        )
        return
    if answer.status_code != 200:
        yield problem(
            "callback", "public URL", f"{target} answered HTTP {answer.status_code}", "check the proxy"
        )
    else:
        yield ok("callback", "public URL", f"{target} answers")


CHECKS: tuple[Callable[[Context], Iterator[Check]], ...] = (
    check_node,
    check_broker,
    check_database,
    check_providers,
    check_keys,
    check_wallets,
    check_workers,
    check_beat,
    check_callback,
)


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; a check that itself breaks is one problem, never the end of the report."""
    from tasks.sources import build_http_client

    http = build_http_client(httpx.Timeout(TIMEOUT_S))
    api_key = settings.tron.api_key.get_secret_value() if settings.tron.api_key else None
    chain = TronChain(
        str(settings.tron.node_url),
        api_key=api_key,
        timeout=min(settings.tron.timeout, TIMEOUT_S),
        reference_address=next(iter(settings.destinations().values()), None),
    )
    ctx = Context(settings, http, chain)
    found: list[Check] = []
    try:
        for check in CHECKS:
            try:
                found.extend(check(ctx))
            except Exception as exc:  # noqa: BLE001 - report it and go on with the other checks
                area = check.__name__.removeprefix("check_")
                found.append(problem(area, "check", f"{type(exc).__name__}: {exc}", "run with --debug"))
    finally:
        http.close()
        chain.close()
        if ctx.ledger is not None:
            ctx.ledger.dispose()
    return found


def _masked(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
