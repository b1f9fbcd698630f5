"""The energy meter asks the chain as little as a correct figure allows: cached figures cost no request,
a fresh one before signing costs one, and a destination that starts or stops holding is seen within a
block (docs/ARCHITECTURE.md §10.1)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from sweeper.assets import HOLDS_SECONDS, EnergyMeter, EnergyPolicy
from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, ENERGY_TRANSFER_TO_NEW_HOLDER
from tests.fixtures.db import tron_address
from tests.support.memory import HOT, USDT_CONTRACT, MemoryChain, heart

pytestmark = pytest.mark.unit

A = tron_address("meter-a")


@dataclass
class CountingChain(MemoryChain):
    """The in-memory chain, counting the reads a caller makes."""

    calls: Counter[str] = field(default_factory=Counter)

    def token_balance(self, contract: str, address: str) -> int:
        self.calls["token_balance"] += 1
        return super().token_balance(contract, address)

    def measure_transfer_energy(self, contract: str, owner: str, to: str, amount: int) -> int:
        self.calls["measure"] += 1
        return super().measure_transfer_energy(contract, owner, to, amount)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _setup(cache_seconds: float = 30.0) -> tuple[CountingChain, EnergyMeter, Ticks]:
    chain = CountingChain()
    chain.mint(HOT, 1)
    chain.fund(A, 1)
    chain.mint(A, 50_000_000)
    ticks = Ticks()
    return chain, EnergyMeter(EnergyPolicy(cache_seconds=cache_seconds), clock=ticks), ticks


def test_a_cached_figure_costs_no_request_while_recent() -> None:
    chain, meter, ticks = _setup()
    assert meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=False) == ENERGY_TRANSFER_TO_HOLDER
    assert chain.calls == {"token_balance": 1, "measure": 1}
    ticks.now += HOLDS_SECONDS / 2
    assert meter.measure(chain, USDT_CONTRACT, A, HOT, 20, fresh=False) == ENERGY_TRANSFER_TO_HOLDER
    assert chain.calls == {"token_balance": 1, "measure": 1}  # nothing asked: the figure and the holding
    ticks.now += HOLDS_SECONDS
    meter.measure(chain, USDT_CONTRACT, A, HOT, 30, fresh=False)
    assert chain.calls == {"token_balance": 2, "measure": 1}  # the holding re-read, the figure still good


def test_a_fresh_figure_is_the_transfer_measured_once_whatever_is_cached() -> None:
    chain, meter, _ = _setup()
    meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=False)
    chain.calls.clear()
    assert meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=True) == ENERGY_TRANSFER_TO_HOLDER
    assert chain.calls == {"measure": 1}  # the holding is still recent: not read again


def test_a_fresh_figure_replaces_the_cached_one_so_a_top_up_is_not_judged_by_the_old_figure() -> None:
    chain, meter, ticks = _setup()
    assert meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=False) == ENERGY_TRANSFER_TO_HOLDER
    chain.energy_factor[USDT_CONTRACT] = 2.5  # the token's energy factor rose
    ticks.now += 1
    raised = meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=True)  # before signing
    assert raised == round(ENERGY_TRANSFER_TO_HOLDER * 2.5)
    # The top-up's delivery check asks the cache: it must want the raised figure, not the old one.
    assert meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=False) == raised


def test_a_destination_that_stops_holding_is_seen_within_a_block_and_fresh_at_once() -> None:
    chain, meter, ticks = _setup()
    meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=False)
    chain.tokens[(USDT_CONTRACT, HOT)] = 0  # the hot wallet emptied to cold storage
    # Before signing the reading is fresh: the transfer is measured as it is now, never from the cache.
    assert meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=True) == ENERGY_TRANSFER_TO_NEW_HOLDER
    ticks.now += HOLDS_SECONDS
    assert meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=False) == ENERGY_TRANSFER_TO_NEW_HOLDER


def test_no_cache_when_the_setting_is_zero() -> None:
    chain, meter, _ = _setup(cache_seconds=0)
    for _ in range(3):
        meter.measure(chain, USDT_CONTRACT, A, HOT, 10, fresh=False)
    assert chain.calls == {"token_balance": 3, "measure": 3}


def test_a_sweep_reads_its_address_once_per_look_never_is_activated_then_resources() -> None:
    h = heart()
    calls: Counter[str] = Counter()
    for name in ("is_activated", "resources", "account", "head_block_number", "solid_block_number"):
        real = getattr(h.chain, name)

        def counted(*args: object, _real: object = real, _name: str = name) -> object:
            calls[_name] += 1
            return _real(*args)  # type: ignore[operator]

        setattr(h.chain, name, counted)
    h.deposit(tron_address("meter-b"), 150_000_000)
    sid = h.open(tron_address("meter-b"))
    assert h.run(sid) == "CONFIRMED"
    assert calls["is_activated"] == 0 and calls["resources"] == 0, calls
    assert calls["account"] == 2, calls  # the order step's need, the delivery check; signing reuses it
    assert calls["solid_block_number"] == 0, calls  # heights come in pairs from one read
