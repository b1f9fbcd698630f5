"""End to end, one energy source at a time, and itrx with and without callbacks.

A Celery worker, beat (the block scanner) and, where callbacks matter, the receiver run as real processes
against the devnet; the test only mints deposits and reads the ledger and the chain afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devnet.crypto import generate_key
from sweeper.chain import TronChain
from sweeper.ledger.records import CallbackEvent, OrderRequestStatus, Sweep
from sweeper.models import SweepState
from tasks.processes import ProcessGroup, free_port
from tests.e2e.helpers import (
    KEYSTORE_PASSWORD,
    TRX,
    USDT,
    Site,
    fast_devnet,
    flushed_redis,
    keystore_with,
    wait_for,
)

pytestmark = pytest.mark.e2e

REDIS_DB = 10  # this suite's own broker database, so it never shares queues with another suite
SETTLE_TIMEOUT = 120.0
CAN_ACTIVATE = {"itrx": True, "ea888fee": False, "tronzap": True, "stake": False, "burn": True}
"""Whether the source alone can sweep a deposit that is not on chain yet (itrx ``active``, tronzap
``activate_address``, burn's TRX transfer activates the address; ea888fee and stake cannot)."""
RENTED = ("itrx", "ea888fee", "tronzap")


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(REDIS_DB) as url:
        yield url


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    with fast_devnet() as devnet:
        world = Site.create(devnet, tmp_path)
        try:
            yield world
        finally:
            world.close()


def wallet_for(site: Site, source: str) -> tuple[dict[str, str], str | None]:
    """Stake and burn spend from an exchange wallet whose key reaches the workers through the keystore."""
    if source not in ("stake", "burn"):
        return {}, None
    private_key, address = generate_key()
    if source == "stake":
        site.devnet.chain.create_pool(address, 100 * TRX, 10**6 * TRX)  # TRX staked for energy
        names = {"SWEEPER_ENERGY__STAKE__OWNER": address}
    else:
        site.devnet.chain.fund(address, 200 * TRX)
        names = {"SWEEPER_ENERGY__BURN__GAS_WALLET": address}
    keystore = keystore_with(site.workdir / "keystore.json", private_key)
    return {
        **names,
        "SWEEPER_KEYS__KEYSTORE_FILE": keystore,
        "SWEEPER_KEYS__KEYSTORE_PASSWORD": KEYSTORE_PASSWORD,
    }, address


def mint_deposits(site: Site, amounts: list[int], *, activated: int) -> dict[str, int]:
    """Watch one deposit per amount; the first ``activated`` get 1 TRX (on chain) before the USDT lands."""
    addresses = site.deposits(len(amounts))
    for address in addresses[:activated]:
        site.devnet.chain.fund(address, 1 * TRX)
    site.devnet.chain.produce_blocks(1)
    plan = dict(zip(addresses, amounts, strict=True))
    for address, amount in plan.items():
        site.devnet.chain.mint(address, amount)
    return plan


def assert_swept_once(site: Site, sweeps: dict[str, list[Sweep]], plan: dict[str, int], source: str) -> None:
    """Each deposit: one CONFIRMED sweep of its whole balance, one DELIVERED order from ``source``."""
    for address, amount in plan.items():
        assert [s.state for s in sweeps[address]] == [SweepState.CONFIRMED], (address, sweeps[address])
        (sweep,) = sweeps[address]
        assert sweep.amount == amount and sweep.energy_source == source
        assert site.usdt(address) == 0
        orders = site.ledger.orders_for_sweep(sweep.id)
        assert [(o.source, o.status) for o in orders] == [(source, OrderRequestStatus.DELIVERED)], orders
    transfers = site.transfers_out(list(plan))
    assert sorted(sender for sender, _ in transfers) == sorted(plan)  # exactly one transfer each, on chain
    assert {to for _, to in transfers} == {site.hot}


def transfer_fee(site: Site, sweep: Sweep) -> int:
    """TRX the sweep's transfer burned on chain (its receipt fee), as the ledger recorded it."""
    tx = site.ledger.get_tx(sweep.txid or "")
    assert tx is not None and tx.fee_sun is not None
    return tx.fee_sun


@pytest.mark.parametrize("source", list(CAN_ACTIVATE))
def test_each_energy_source_alone_sweeps_its_deposits_exactly_once(
    source: str, site: Site, broker: str, processes: ProcessGroup
) -> None:
    extra, wallet = wallet_for(site, source)
    processes.env = site.env(broker, order=source, extra=extra)
    site.scan_from_head()
    processes.worker("w1", concurrency=2)
    processes.beat()
    wallet_before = site.devnet.chain.trx_balance(wallet) if wallet else 0
    hot_before = site.usdt(site.hot)

    plan = mint_deposits(site, [120 * USDT, 45 * USDT, 300 * USDT], activated=2)
    unactivated = list(plan)[2]
    sweeps = site.settled(list(plan), SETTLE_TIMEOUT)

    swept = plan if CAN_ACTIVATE[source] else {a: n for a, n in plan.items() if a != unactivated}
    assert_swept_once(site, sweeps, swept, source)
    assert site.usdt(site.hot) - hot_before == sum(swept.values())
    confirmed = [sweeps[a][0] for a in swept]
    if not CAN_ACTIVATE[source]:
        # By design this source cannot put an address on chain: the deposit is skipped, untouched and unpaid.
        (refused,) = sweeps[unactivated]
        assert refused.state is SweepState.SKIPPED
        assert "cannot activate an address" in (refused.reason or ""), refused.reason
        assert site.ledger.orders_for_sweep(refused.id) == []
        assert site.usdt(unactivated) == plan[unactivated]

    if source in RENTED:
        for sweep in confirmed:
            (order,) = site.ledger.orders_for_sweep(sweep.id)
            assert order.cost_sun is not None and order.cost_sun > 0
            assert sweep.cost_sun == order.cost_sun + transfer_fee(site, sweep)
    elif source == "stake":
        assert wallet is not None
        for sweep in confirmed:
            assert sweep.cost_sun == 0  # delegated TRX stays ours: no sun is spent
            assert transfer_fee(site, sweep) == 0
        chain = TronChain(site.devnet.node_url)  # getdelegatedresourcev2 over HTTP
        try:
            wait_for(
                lambda: all(chain.delegated_energy_sun(wallet, a) == 0 for a in swept),
                30,
                "the stake delegations to be reclaimed",
            )
        finally:
            chain.close()
        assert all(site.devnet.chain.energy_available(a) == 0 for a in swept)
    else:  # burn
        assert wallet is not None
        sent = 0
        for sweep in confirmed:
            (order,) = site.ledger.orders_for_sweep(sweep.id)
            burned = transfer_fee(site, sweep)
            assert order.cost_sun is not None and burned > 0
            assert sweep.cost_sun >= burned  # the TRX the transfer burned is in the sweep's cost
            assert sweep.cost_sun == max(order.cost_sun, burned)  # ... and the TRX sent is not counted twice
            sent += order.cost_sun
        assert wallet_before - site.devnet.chain.trx_balance(wallet) >= sent


def test_itrx_callbacks_reach_the_receiver_and_the_sweeps_finish(
    site: Site, broker: str, processes: ProcessGroup
) -> None:
    port = free_port()
    processes.env = site.env(broker, order="itrx", callback_public_url=f"http://127.0.0.1:{port}")
    site.scan_from_head()
    processes.web(port)
    processes.worker("w1", concurrency=2)
    processes.beat()

    plan = mint_deposits(site, [80 * USDT, 60 * USDT], activated=1)
    sweeps = site.settled(list(plan), SETTLE_TIMEOUT)

    assert_swept_once(site, sweeps, plan, "itrx")
    orders = {o.order_no for a in plan for o in site.ledger.orders_for_sweep(sweeps[a][0].id)}

    def recorded() -> list[CallbackEvent] | None:
        events = [e for e in site.callback_events() if e.order_no in orders]
        return events if {e.order_no for e in events} == orders else None

    events = wait_for(recorded, 30, "the receiver to record the itrx callback of every order")
    assert len(events) == len(orders)  # one event per order: recorded once
    assert all(e.provider == "itrx" and json.loads(e.payload)["status"] == 40 for e in events)


@pytest.mark.parametrize("silence", ["callbacks_off_in_settings", "provider_drops_callbacks"])
def test_without_callbacks_itrx_sweeps_finish_by_polling(
    silence: str, site: Site, broker: str, processes: ProcessGroup
) -> None:
    port = free_port()
    extra = {"SWEEPER_ENERGY__ITRX__CALLBACKS": "false"} if silence == "callbacks_off_in_settings" else {}
    if silence == "provider_drops_callbacks":
        site.devnet.faults.set("itrx", callbacks="drop")
    processes.env = site.env(
        broker, order="itrx", callback_public_url=f"http://127.0.0.1:{port}", extra=extra
    )
    site.scan_from_head()
    processes.web(port)  # listening, but nothing will call it
    processes.worker("w1", concurrency=2)
    processes.beat()

    plan = mint_deposits(site, [70 * USDT, 90 * USDT], activated=1)
    sweeps = site.settled(list(plan), SETTLE_TIMEOUT)

    assert_swept_once(site, sweeps, plan, "itrx")
    assert site.callback_events() == []
