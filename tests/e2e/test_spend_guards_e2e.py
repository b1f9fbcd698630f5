"""Money drains, end to end: real Celery workers and beat against the devnet, measured at the providers.

Each scenario is one of the ways the sweeper used to pay for energy and move nothing. What was paid is
read from the devnet providers' own order books (and their account balances), never from the ledger's
opinion. The figures in docs/RELIABILITY.md ("money drains") come from these runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
import redis
from celery import Celery

from config.celery import celery_settings
from devnet.crypto import generate_key
from devnet.providers.orders import Order
from sweeper.keys import MnemonicKeyring
from sweeper.ledger.controls import SpendControls
from sweeper.ledger.records import Sweep
from sweeper.models import USDT_MAINNET, SweepState, Token
from tasks.devnet_profile import DEVNET_MNEMONIC
from tasks.processes import ProcessGroup
from tests.chaos.invariants import check_invariants, provider_books
from tests.e2e.helpers import USDT, Site, fast_devnet, flushed_redis, wait_for

pytestmark = pytest.mark.e2e

REDIS_DB = 7  # this suite's own broker database
TRX = 1_000_000
SETTLE = 120.0
USDT_TOKEN = Token("USDT", USDT_MAINNET, 6, 1 * USDT)


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(REDIS_DB) as url:
        yield url


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with fast_devnet() as devnet:
        world = Site.create(devnet, tmp_path)
        try:
            yield world
        finally:
            world.close()


def provider_orders(site: Site, receivers: set[str] | None = None) -> list[Order]:
    """Every order the devnet providers took (for ``receivers`` only, if given)."""
    return [
        order
        for book in provider_books(site.devnet)
        for order in book.all()
        if receivers is None or order.receiver in receivers
    ]


def cli(site: Site, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``sweeper …`` as the operator runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "tasks.cli", *argv],
        env={**env, "COLUMNS": "200"},
        cwd=site.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def client(broker: str) -> Celery:
    """A bare Celery client with the product's routes: sends tasks the way Flower or the CLI would."""
    app = Celery("test-client")
    app.conf.update(celery_settings(broker, None))
    return app


def ended(site: Site, sweep_id: int, timeout: float = SETTLE) -> Sweep:
    def check() -> Sweep | None:
        sweep = site.ledger.get_sweep(sweep_id)
        return sweep if sweep is not None and not sweep.is_open else None

    return wait_for(check, timeout, f"sweep {sweep_id} to end", interval=0.2)


def newest_beyond(site: Site, address: str, n: int) -> Sweep | None:
    """The address's newest sweep once it has more than ``n``."""
    found = site.sweeps_of(address)
    return found[0] if len(found) > n else None


def opened(site: Site, addresses: list[str]) -> list[Sweep] | None:
    """One sweep per address once each has been opened, else None."""
    found = [s for a in addresses for s in site.sweeps_of(a)]
    return found if len(found) == len(addresses) else None


def logs(processes: ProcessGroup, *names: str) -> str:
    return "\n".join(processes.logs(name) for name in names)


# -- a deposit whose key nobody holds ----------------------------------------------------------------


def test_a_keyless_deposit_pays_nothing_through_rescans_retries_and_a_release(
    site: Site, broker: str, processes: ProcessGroup
) -> None:
    """A CSV row with an ``external:`` key nobody holds: before, every sweep of it bought energy and then
    failed ``unknown_key``; the hourly rescan opened a new one, and ``sweeper retry`` paid each time."""
    _, stranger = generate_key()  # its key is nowhere: not in the mnemonic, the keystore or a signer
    env = site.env(broker, order="itrx,ea888fee,tronzap", extra={"SWEEPER_RESCAN_INTERVAL_SECONDS": "1"})
    csv = site.workdir / "addresses.csv"
    csv.write_text(f"{stranger},imported by mistake\n")
    assert cli(site, env, "addresses", "import", str(csv)).returncode == 0
    site.deposits(1)  # the watch list also holds a derived address, so a keyring is configured
    processes.env = env
    site.scan_from_head()
    processes.worker("w1", concurrency=2)
    processes.beat()
    site.devnet.chain.fund(stranger, 1 * TRX)
    site.devnet.chain.produce_blocks(1)
    site.devnet.chain.mint(stranger, 80 * USDT)

    first = wait_for(lambda: site.sweeps_of(stranger), 60, "the deposit's sweep")[-1]
    failed = ended(site, first.id)
    assert failed.state is SweepState.FAILED and (failed.reason or "").startswith("unknown_key")
    time.sleep(8)  # about eight "hourly" rescans
    assert [s.id for s in site.sweeps_of(stranger)] == [first.id]  # quarantined: never reopened

    tasks = client(broker)
    for _ in range(10):
        assert cli(site, env, "retry", str(first.id)).returncode == 0
        tasks.send_task("sweeper.advance", kwargs={"sweep_id": first.id})  # reconcile's job, sooner
        assert ended(site, first.id).state is SweepState.FAILED

    released = cli(site, env, "release", stranger)
    assert released.returncode == 0, released.stderr
    reopened = wait_for(lambda: [s for s in site.sweeps_of(stranger) if s.id != first.id], 30, "a new sweep")
    assert ended(site, reopened[0].id).state is SweepState.FAILED

    assert provider_orders(site, {stranger}) == []  # nothing was ever ordered for it
    assert site.usdt(stranger) == 80 * USDT


# -- a watched hot wallet ----------------------------------------------------------------------------


def test_a_hot_wallet_on_the_watch_list_is_never_swept_into_itself(
    site: Site, broker: str, processes: ProcessGroup
) -> None:
    """Before, each sweep into a watched hot wallet was a Transfer the scanner matched, which opened a
    hot → hot sweep, which bought energy: about one paid loop a minute, forever. Here the hot wallet is
    index 0 of the deposit mnemonic and was derived onto the watch list, as happens."""
    site.hot = MnemonicKeyring(DEVNET_MNEMONIC).derive(0)
    site.devnet.chain.fund(site.hot, 10 * TRX)
    site.devnet.chain.mint(site.hot, 1)
    site.deposits(1)  # index 0: the hot wallet, watched (and its key held by the workers)
    processes.env = site.env(broker, order="itrx,ea888fee,tronzap")
    site.scan_from_head()
    processes.worker("w1", concurrency=2)
    processes.beat()
    deposits = site.deposits(3, start=1)
    for address in deposits:
        site.devnet.chain.fund(address, 1 * TRX)
    site.devnet.chain.produce_blocks(1)
    for address in deposits:
        site.devnet.chain.mint(address, 50 * USDT)

    site.settled(deposits, SETTLE)
    time.sleep(6)  # a dozen scans over the blocks holding the transfers into the hot wallet

    assert site.sweeps_of(site.hot) == []
    assert provider_orders(site, {site.hot}) == []
    assert len(provider_orders(site)) == 3  # one per deposit, nothing else
    assert site.usdt(site.hot) == 1 + 150 * USDT


# -- the kill switch ---------------------------------------------------------------------------------


def test_the_kill_switch_stops_all_orders_within_one_poll_and_sweeps_wait_until_resumed(
    site: Site, broker: str, processes: ProcessGroup
) -> None:
    env = site.env(broker, order="itrx,ea888fee,tronzap")
    processes.env = env
    site.scan_from_head()
    processes.worker("w1", concurrency=2)
    processes.worker("w2", concurrency=2)
    processes.beat()
    first = site.deposits(4)
    site.devnet.chain.produce_blocks(1)
    for address in first:
        site.devnet.chain.mint(address, 40 * USDT)  # never activated: activation orders, slower sweeps
    wait_for(lambda: provider_orders(site), 60, "the first order")

    paused = cli(site, env, "pause", "--reason", "drill")
    assert paused.returncode == 0, paused.stderr
    poll = 0.4  # POLL_SECONDS of the e2e environment
    time.sleep(poll + 1.0)  # one poll, plus a provider call already on the wire when the switch flipped
    at_pause = len(provider_orders(site))
    second = site.deposits(4, start=4)
    site.devnet.chain.produce_blocks(1)
    for address in second:
        site.devnet.chain.mint(address, 60 * USDT)
    time.sleep(10)

    assert len(provider_orders(site)) == at_pause  # nothing at all was ordered while paused
    waiting = [s for a in second for s in site.sweeps_of(a)]
    assert waiting and all(s.state is SweepState.DETECTED for s in waiting)
    status = cli(site, env, "status")
    assert "spending: PAUSED" in status.stdout and "drill" in status.stdout

    assert cli(site, env, "resume").returncode == 0
    plan = {a: 40 * USDT for a in first} | {a: 60 * USDT for a in second}
    site.settled(list(plan), SETTLE)
    check_invariants(site.devnet, site.ledger, plan, site.hot)


# -- two workers, a stolen lock ----------------------------------------------------------------------


class Sampler:
    """Runs ``tick`` every ``interval`` seconds on a thread of its own, for the length of a ``with``."""

    interval = 0.01

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """What to release once the thread has stopped."""


class LockThief(Sampler):
    """Deletes every address lock in the broker's Redis as soon as it appears: no worker keeps one."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._client = redis.Redis.from_url(url)
        self.stolen = 0

    def tick(self) -> None:
        keys = [k for k in self._client.scan_iter(match="sweeper:lock:T*") if k]
        if keys:
            self.stolen += self._client.delete(*keys)

    def close(self) -> None:
        self._client.close()


def test_two_workers_with_their_address_lock_taken_away_place_one_order_per_step(
    site: Site, broker: str, processes: ProcessGroup
) -> None:
    """The lock only keeps workers apart; with it gone, the ledger alone must keep each paid call single:
    the move that names an order is a compare-and-set on the version the decision was made on, and an
    order whose call may still be in flight is claimed before anyone calls its source again."""
    site.devnet.faults.set("itrx", latency_ms=700)  # slow quotes and orders: the workers overlap
    processes.env = site.env(broker, order="itrx")
    site.scan_from_head()
    processes.worker("w1", concurrency=3)
    processes.worker("w2", concurrency=3)
    deposits = site.deposits(4)
    for address in deposits:
        site.devnet.chain.fund(address, 1 * TRX)
    site.devnet.chain.produce_blocks(1)
    plan = {address: (30 + i) * USDT for i, address in enumerate(deposits)}
    for address, amount in plan.items():
        site.devnet.chain.mint(address, amount)
    tasks = client(broker)

    with LockThief(broker) as thief:
        for address in deposits:
            tasks.send_task("sweeper.sweep_address", kwargs={"address": address})
        sweeps = wait_for(lambda: opened(site, deposits), 60, "a sweep for each deposit")
        for _ in range(3):  # every worker process works on every sweep at once, again and again
            for sweep in sweeps:
                for _ in range(4):
                    tasks.send_task("sweeper.advance", kwargs={"sweep_id": sweep.id})
            time.sleep(1.5)
        site.settled(deposits, SETTLE)

    assert thief.stolen > 0
    said = logs(processes, "w1", "w2")
    assert "sweep.lost_race" in said or "the order may be being placed" in said  # they did collide
    audit = check_invariants(site.devnet, site.ledger, plan, site.hot)  # one provider order per number
    assert audit.swept == 4
    assert len(provider_orders(site)) == 4  # one paid order per sweep, nothing twice


# -- a budget per address ----------------------------------------------------------------------------


def test_an_address_stops_ordering_at_its_budget_and_says_so_once(
    site: Site, broker: str, processes: ProcessGroup
) -> None:
    processes.env = site.env(
        broker, order="itrx,ea888fee,tronzap", extra={"SWEEPER_BUDGET__ORDERS_PER_ADDRESS": "2"}
    )
    site.scan_from_head()
    processes.worker("w1", concurrency=2)
    processes.beat()
    (address,) = site.deposits(1)
    site.devnet.chain.fund(address, 1 * TRX)
    site.devnet.chain.produce_blocks(1)
    for n in range(3):
        site.devnet.chain.mint(address, (20 + n) * USDT)
        sweep = wait_for(lambda n=n: newest_beyond(site, address, n), 60, f"sweep {n + 1} of the address")
        if n < 2:
            assert ended(site, sweep.id).state is SweepState.CONFIRMED
    time.sleep(6)

    third = site.sweeps_of(address)[0]
    assert third.state is SweepState.DETECTED  # waits for the window, not failed
    assert len(provider_orders(site, {address})) == 2
    assert SpendControls(site.ledger).crossings() == {"orders_per_address": 1}
    assert logs(processes, "w1").count('"budget.crossed"') == 1  # one loud line


# -- a backlog larger than the fleet -----------------------------------------------------------------


class FlightWatch(Sampler):
    """Samples how many sweeps are between order and broadcast, from the ledger, every 50 ms."""

    interval = 0.05

    def __init__(self, site: Site) -> None:
        super().__init__()
        self._site = site
        self.most = 0

    def tick(self) -> None:
        self.most = max(self.most, self._site.ledger.flight()[0])


def test_a_backlog_past_the_in_flight_cap_queues_unpaid_and_every_deposit_is_swept_once(
    site: Site, broker: str, processes: ProcessGroup
) -> None:
    cap, slots = 3, 4  # two workers of two processes: each may pass the cap by one at the same instant
    processes.env = site.env(
        broker, order="itrx,ea888fee,tronzap", extra={"SWEEPER_BUDGET__SWEEPS_IN_FLIGHT": str(cap)}
    )
    site.scan_from_head()
    processes.worker("w1", concurrency=2)
    processes.worker("w2", concurrency=2)
    processes.beat()
    addresses = site.deposits(14)
    for address in addresses:
        site.devnet.chain.fund(address, 1 * TRX)
    site.devnet.chain.produce_blocks(1)

    with FlightWatch(site) as watch:
        for address in addresses:
            site.devnet.chain.mint(address, 30 * USDT)
        plan = {a: 30 * USDT for a in addresses}
        site.settled(addresses, SETTLE)

    assert 0 < watch.most <= cap + slots
    assert logs(processes, "w1", "w2").count('"sweep.queued"') >= len(addresses) - cap - slots
    assert len(provider_orders(site, set(addresses))) == len(addresses)  # one order each, none re-bought
    check_invariants(site.devnet, site.ledger, plan, site.hot)
    assert SpendControls(site.ledger).crossings() == {}  # a queue is not a budget crossing


PUBLISH = """
import json, sys
from tasks.runtime import runtime
from tasks.sweeping import advance, schedule_advance

new, paid = json.loads(sys.argv[1]), int(sys.argv[2])
rt = runtime()
for sweep_id in new:  # a backlog of deposits that have ordered nothing yet
    schedule_advance(rt, sweep_id, new=True)
advance.apply(kwargs={"sweep_id": paid})  # the real task, here: it orders, then schedules its next look
"""


def test_the_next_look_of_a_paid_sweep_is_delivered_before_a_backlog_of_new_deposits(
    site: Site, broker: str
) -> None:
    from kombu import Connection

    env = site.env(broker, order="itrx,ea888fee,tronzap")
    addresses = site.deposits(31)
    for address in addresses:
        site.devnet.chain.fund(address, 1 * TRX)
        site.devnet.chain.mint(address, 30 * USDT)
    site.devnet.chain.produce_blocks(1)
    sweeps = [site.ledger.open_sweep(a, USDT_TOKEN, 30 * USDT, site.hot) for a in addresses]
    *backlog, paid = [s.id for s in sweeps if s is not None]

    published = subprocess.run(
        [sys.executable, "-c", PUBLISH, json.dumps(backlog), str(paid)],
        env=env,
        cwd=site.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert published.returncode == 0, published.stderr[-2000:]
    assert site.ledger.get_sweep(paid).state is SweepState.ENERGY_ORDERED  # type: ignore[union-attr]

    lists = redis.Redis.from_url(broker)
    try:  # the lists docs/OPERATIONS.md names: kombu keeps one per priority step
        assert (lists.llen("sweep"), lists.llen("sweep\x06\x166")) == (1, len(backlog))
    finally:
        lists.close()
    delivered: list[int] = []
    with Connection(broker) as conn:  # kombu's own consumer decides the order, as a worker's would
        queue = conn.SimpleQueue("sweep")
        while len(delivered) < len(backlog) + 1:
            message = queue.get(block=True, timeout=5)
            delivered.append(int(message.payload[1]["sweep_id"]))
            message.ack()
        queue.close()
    assert delivered[0] == paid  # published last, delivered first
    assert sorted(delivered[1:]) == sorted(backlog)
