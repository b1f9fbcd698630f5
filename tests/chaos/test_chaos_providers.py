"""Chaos, provider faults: 5xx storms, lost answers, empty accounts, callbacks gone wrong.

One deployment for the module: the devnet (itrx made the cheapest source, so callbacks flow), two Celery
workers, beat and the callback receiver as real processes, Redis as broker. Each scenario injects its
fault through the devnet (``Devnet.faults`` or ``POST /devnet/provider-faults`` on a provider port),
mints deposits on fresh addresses, waits for the ledger to settle, and ends with ``check_invariants``
over everything the module swept so far.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from devnet.providers.common import DEFAULT_BALANCE_SUN, ITRX_API_SECRET, hmac_sha256_hex
from devnet.providers.common import compact_json as devnet_json
from devnet.server import Devnet
from sweeper.ledger.records import OrderRequestStatus, Sweep
from sweeper.ledger.tables import Base
from sweeper.models import SweepState
from tasks.processes import ProcessGroup, free_port
from tests.chaos.invariants import check_invariants
from tests.e2e.helpers import BLOCK_TIME, TRX, USDT, Site, flushed_redis, wait_for

pytestmark = pytest.mark.chaos

REDIS_DB = 13  # this module's own broker database
SETTLE_TIMEOUT = 90.0
PROVIDERS = ("itrx", "ea888fee", "tronzap")
BREAKER_RESET_S = 1.0
ITRX_1H_SUN_PER_ENERGY = 30  # cheaper than ea888fee (45) and tronzap (52): itrx is the first choice
QUIET_TABLES = (
    "sweeps",
    "sweep_history",
    "energy_orders",
    "chain_transactions",
    "callback_events",
    "tx_journal",
)
"""Every ledger table a callback could touch (the scanner's cursor moves on its own)."""


@dataclass
class World:
    """The module's deployment, and what it has swept so far (the invariants are cumulative)."""

    site: Site
    processes: ProcessGroup
    receiver_url: str
    plan: dict[str, int] = field(default_factory=dict)
    next_index: int = 0

    @property
    def devnet(self) -> Devnet:
        return self.site.devnet

    def deposit(self, amounts: list[int], *, activated: int | None = None) -> dict[str, int]:
        """Fresh watched deposits holding ``amounts``; the first ``activated`` (default all) get 1 TRX."""
        addresses = self.site.deposits(len(amounts), start=self.next_index)
        self.next_index += len(amounts)
        chain = self.devnet.chain
        for address in addresses[: len(amounts) if activated is None else activated]:
            chain.fund(address, 1 * TRX)
        chain.produce_blocks(1)
        batch = dict(zip(addresses, amounts, strict=True))
        for address, amount in batch.items():
            chain.mint(address, amount)
        self.plan.update(batch)
        return batch

    def settle(self, batch: dict[str, int]) -> dict[str, Sweep]:
        """Wait until every deposit of ``batch`` has terminal sweeps; return each one's only sweep."""
        sweeps = self.site.settled(list(batch), SETTLE_TIMEOUT)
        for address, found in sweeps.items():
            assert [s.state for s in found] == [SweepState.CONFIRMED], (
                address,
                [(s.id, s.state, s.reason) for s in found],
                self.processes.logs("w1")[-3000:],
            )
        return {address: found[0] for address, found in sweeps.items()}

    def check(self) -> None:
        check_invariants(self.devnet, self.site.ledger, self.plan, self.site.hot)

    def provider_faults(self, provider: str, **switches: Any) -> dict[str, Any]:
        """Set provider-only switches (drop_response, order_outcome, balance, …) on its own port."""
        url = f"{self.devnet.provider_url(provider)}/devnet/provider-faults"
        response = httpx.post(url, json=switches, timeout=10)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def provider_state(self, provider: str) -> dict[str, Any]:
        url = f"{self.devnet.provider_url(provider)}/devnet/provider-faults"
        answer: dict[str, Any] = httpx.get(url, timeout=10).json()
        return answer

    def clear_faults(self) -> None:
        self.devnet.faults.clear()
        for provider in PROVIDERS:
            url = f"{self.devnet.provider_url(provider)}/devnet/provider-faults"
            httpx.delete(url, timeout=10).raise_for_status()
            self.provider_faults(provider, balance=DEFAULT_BALANCE_SUN)

    def post_callback(
        self, payload: dict[str, Any], *, timestamp: int | None = None, **kw: Any
    ) -> httpx.Response:
        """A callback signed with itrx's secret (as itrx signs it), unless ``headers`` replaces that."""
        body = kw.pop("body", None) or devnet_json(payload)
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = kw.pop("headers", None) or {
            "Content-Type": "application/json",
            "TIMESTAMP": stamp,
            "SIGNATURE": hmac_sha256_hex(kw.pop("secret", ITRX_API_SECRET), f"{stamp}&{body}"),
        }
        provider = kw.pop("provider", "itrx")
        return httpx.post(
            f"{self.receiver_url}/callbacks/{provider}", content=body, headers=headers, timeout=10
        )

    def ledger_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the tables a callback could change, for before/after comparison."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.site.ledger.engine.connect() as conn:
            for name in QUIET_TABLES:
                table = Base.metadata.tables[name]
                rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings().all()
                out[name] = [dict(row) for row in rows]
        return out

    def callbacks_recorded(self, order_nos: set[str]) -> None:
        """Wait until the receiver has recorded a callback for each of ``order_nos``."""

        def recorded() -> bool:
            return order_nos <= {e.order_no for e in self.site.callback_events()}

        wait_for(recorded, 30, f"callbacks for {sorted(order_nos)}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir: Path = tmp_path_factory.mktemp("chaos-providers")
    devnet = Devnet(
        port=0,
        block_time=BLOCK_TIME,
        solid_depth=2,
        callback_time_scale=0.05,
        provider_options={"prices": {"itrx": {"1H": ITRX_1H_SUN_PER_ENERGY}}},
    )
    devnet.start()
    try:
        with flushed_redis(REDIS_DB) as broker:
            site = Site.create(devnet, workdir)
            port = free_port()
            receiver = f"http://127.0.0.1:{port}"
            env = site.env(
                broker,
                order="itrx,ea888fee,tronzap",
                callback_public_url=receiver,
                extra={"SWEEPER_ENERGY__BREAKER_RESET_SECONDS": str(BREAKER_RESET_S)},
            )
            group = ProcessGroup(env=env, workdir=workdir)
            try:
                site.scan_from_head()
                group.web(port)
                group.worker("w1", concurrency=2)
                group.worker("w2", concurrency=2)
                group.beat()
                yield World(site, group, receiver)
            finally:
                group.stop()
                site.close()
    finally:
        devnet.stop()


@pytest.fixture
def chaos(world: World) -> Iterator[World]:
    """The deployment with no fault switched on before or after the test.

    Afterwards it also lets every circuit the test's faults opened (in any worker process) reach
    half-open, so the next scenario starts with every source callable.
    """
    world.clear_faults()
    try:
        yield world
    finally:
        world.clear_faults()
        time.sleep(BREAKER_RESET_S + 0.2)


def sources_used(world: World, sweep: Sweep) -> list[tuple[str, OrderRequestStatus]]:
    return [(o.source, o.status) for o in world.site.ledger.orders_for_sweep(sweep.id)]


def failed_over_from(source: str, world: World, sweeps: dict[str, Sweep]) -> None:
    """``source`` failed the sweeps' orders and the next source delivered.

    A worker whose circuit for ``source`` is already open skips it without ordering, so "tried and
    failed" is required of the batch, not of every sweep.
    """
    tried = 0
    for sweep in sweeps.values():
        used = sources_used(world, sweep)
        assert sweep.energy_source != source, used
        assert used[-1] == (sweep.energy_source, OrderRequestStatus.DELIVERED), used
        assert all(status is OrderRequestStatus.FAILED for _, status in used[:-1]), used
        tried += sum(1 for name, _ in used if name == source)
    assert tried >= 1, "the fault was never felt: no sweep ordered from the failing source"


# -- 5xx storms ---------------------------------------------------------------------------------------


def test_a_5xx_storm_at_the_cheapest_source_sends_every_sweep_to_the_next_one(chaos: World) -> None:
    chaos.devnet.faults.set("itrx", error_rate=1.0, status=503)

    batch = chaos.deposit([55 * USDT, 65 * USDT, 75 * USDT], activated=2)
    sweeps = chaos.settle(batch)

    for sweep in sweeps.values():
        used = sources_used(chaos, sweep)
        assert sweep.energy_source != "itrx" and used == [(sweep.energy_source, OrderRequestStatus.DELIVERED)]
    chaos.check()


def test_a_5xx_storm_at_every_source_holds_the_sweeps_until_it_passes(chaos: World) -> None:
    storm = 12  # failed requests per provider before the storm blows over by itself
    for provider in PROVIDERS:
        chaos.devnet.faults.set(provider, error_rate=1.0, status=502, count=storm)

    batch = chaos.deposit([40 * USDT, 42 * USDT])
    sweeps = chaos.settle(batch)

    left = {p: chaos.devnet.faults.remaining(p) for p in PROVIDERS}
    assert all(n is None or n < storm for n in left.values()), left  # every source failed requests
    for sweep in sweeps.values():
        assert [s for _, s in sources_used(chaos, sweep)] == [OrderRequestStatus.DELIVERED]
    chaos.check()


# -- lost answers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["itrx", "ea888fee"])
def test_an_order_accepted_but_answered_with_a_gateway_timeout_is_found_by_lookup_not_placed_again(
    chaos: World, provider: str
) -> None:
    if provider != "itrx":  # steer the sweeps to this provider: the cheaper one is down
        chaos.devnet.faults.set("itrx", error_rate=1.0, status=503)
    chaos.provider_faults(provider, drop_response=True, count=2)

    batch = chaos.deposit([48 * USDT, 52 * USDT])
    sweeps = chaos.settle(batch)

    assert chaos.provider_state(provider)["local"]["drop_response"] is False  # both answers were dropped
    for sweep in sweeps.values():
        assert sweep.energy_source == provider
        assert sources_used(chaos, sweep) == [(provider, OrderRequestStatus.DELIVERED)]
    chaos.check()  # includes: at most one order in the provider's own book per order number


# -- a provider that cannot deliver ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["empty_account", "out_of_energy", "forced_error"])
def test_a_provider_that_refuses_the_order_is_followed_by_the_next_source(chaos: World, fault: str) -> None:
    if fault == "empty_account":
        chaos.provider_faults("itrx", balance=0)
    elif fault == "out_of_energy":
        chaos.devnet.faults.set("itrx", insufficient_resources=True)
    else:
        chaos.devnet.faults.set("itrx", error_code=1)
    spent_before = chaos.provider_state("itrx")["balance"]

    batch = chaos.deposit([44 * USDT, 46 * USDT])
    sweeps = chaos.settle(batch)

    failed_over_from("itrx", chaos, sweeps)
    assert chaos.provider_state("itrx")["balance"] == spent_before  # nothing was charged for a refusal
    chaos.check()


def test_an_order_that_fails_at_the_provider_after_acceptance_is_refunded_and_replaced(chaos: World) -> None:
    chaos.provider_faults("itrx", order_outcome="fail", count=2)

    batch = chaos.deposit([47 * USDT, 49 * USDT])
    sweeps = chaos.settle(batch)

    failed_over_from("itrx", chaos, sweeps)
    chaos.check()


# -- callbacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["duplicate", "delay"])
def test_duplicated_or_late_callbacks_are_recorded_once_and_change_nothing(chaos: World, mode: str) -> None:
    chaos.devnet.faults.set("itrx", callbacks=mode, callback_delay_s=2.0)

    batch = chaos.deposit([61 * USDT, 63 * USDT])
    sweeps = chaos.settle(batch)
    orders = {sweep.order_no or "" for sweep in sweeps.values()}
    assert all(sweep.energy_source == "itrx" for sweep in sweeps.values())
    chaos.callbacks_recorded(orders)
    settled = chaos.ledger_rows()
    time.sleep(1.0)  # room for a second copy or an advance it enqueued to land

    events = [e for e in chaos.site.callback_events() if e.order_no in orders]
    assert sorted(e.order_no for e in events) == sorted(orders)  # one event per order, copies refused
    assert chaos.ledger_rows() == settled
    chaos.check()


def test_a_signed_callback_that_contradicts_the_chain_moves_nothing_by_itself(chaos: World) -> None:
    """ "Delivered" for an order that failed, then "failed" for one that delivered: the chain decides."""
    chaos.provider_faults("itrx", order_outcome="fail", count=1)
    (address,) = chaos.deposit([58 * USDT])

    def itrx_order() -> str | None:
        found = chaos.site.sweeps_of(address)
        orders = chaos.site.ledger.orders_for_sweep(found[0].id) if found else []
        return next((o.order_no for o in orders if o.source == "itrx"), None)

    fake = {
        "active_hash": "",
        "energy_amount": 65_000,
        "out_trade_no": wait_for(itrx_order, 30, "the sweep to order energy from itrx"),
        "pay_amount": 65_000.0,
        "receive_address": address,
        "serial": "forged-serial",
        "status": 40,
        "txid": "00" * 32,
    }
    assert chaos.post_callback(fake).status_code == 200  # correctly signed: accepted as a hint only
    (sweep,) = chaos.settle({address: chaos.plan[address]}).values()
    used = sources_used(chaos, sweep)
    assert used[0] == ("itrx", OrderRequestStatus.FAILED) and sweep.energy_source != "itrx", used

    settled = chaos.ledger_rows()
    late = {**fake, "serial": "forged-serial-2", "txid": "11" * 32}  # "delivered" again, after the end
    assert chaos.post_callback(late).status_code == 200
    time.sleep(1.0)  # the advance it enqueued finds a CONFIRMED sweep
    after = chaos.ledger_rows()
    assert after["sweeps"] == settled["sweeps"] and after["sweep_history"] == settled["sweep_history"]
    assert after["energy_orders"] == settled["energy_orders"]
    chaos.check()


def test_forged_callbacks_are_refused_and_change_nothing(chaos: World) -> None:
    (address,) = chaos.deposit([66 * USDT])
    (sweep,) = chaos.settle({address: chaos.plan[address]}).values()
    assert sweep.energy_source == "itrx" and sweep.order_no
    chaos.callbacks_recorded({sweep.order_no})
    (real,) = [e for e in chaos.site.callback_events() if e.order_no == sweep.order_no]
    genuine = json.loads(real.payload)
    settled = chaos.ledger_rows()
    now = int(time.time())
    other = chaos.site.deposits(1, start=chaos.next_index)[0]
    chaos.next_index += 1

    forged = {
        "bad signature": (chaos.post_callback(genuine, secret="not-the-secret"), 401, "bad_signature"),
        "tampered body": (
            chaos.post_callback(
                genuine,
                body=devnet_json({**genuine, "status": 41}),
                headers=_signed_headers(devnet_json(genuine), now),
            ),
            401,
            "bad_signature",
        ),
        "wrong address": (
            chaos.post_callback({**genuine, "receive_address": other}),
            400,
            "address_mismatch",
        ),
        "unknown order": (
            chaos.post_callback({**genuine, "out_trade_no": "sw999999a0o1", "serial": "x"}),
            404,
            "unknown_order",
        ),
        "replay past the tolerance": (chaos.post_callback(genuine, timestamp=now - 3600), 401, "stale"),
        "from the future": (chaos.post_callback(genuine, timestamp=now + 3600), 401, "stale"),
        "no signature": (
            chaos.post_callback(genuine, headers={"Content-Type": "application/json"}),
            401,
            "missing_headers",
        ),
        "not json": (chaos.post_callback(genuine, body="status=40&serial=1"), 400, "malformed"),
        "a provider that sends none": (chaos.post_callback(genuine, provider="tronzap"), 404, "no_callbacks"),
        "an unknown provider": (chaos.post_callback(genuine, provider="evil"), 404, "unknown_provider"),
    }
    replay = chaos.post_callback(genuine)  # the genuine event again, freshly signed: a duplicate

    problems = {
        name: (r.status_code, r.text)
        for name, (r, status, reason) in forged.items()
        if r.status_code != status or r.json().get("error") != reason
    }
    assert not problems, problems
    assert replay.status_code == 200 and replay.json() == {"duplicate": True}
    time.sleep(1.0)  # anything a forged callback had enqueued would have run by now
    assert chaos.ledger_rows() == settled
    chaos.check()


def _signed_headers(body: str, timestamp: int) -> dict[str, str]:
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json",
        "TIMESTAMP": stamp,
        "SIGNATURE": hmac_sha256_hex(ITRX_API_SECRET, f"{stamp}&{body}"),
    }
