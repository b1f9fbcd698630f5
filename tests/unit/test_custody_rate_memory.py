"""The signing policy's per-address rate limit remembers only the addresses of its window: a worker that
signs for a million deposit addresses over months holds the last hour's, not every one (bench/RESULTS.md,
worker memory)."""

from __future__ import annotations

import pytest

from sweeper.chain.intent import Intent
from sweeper.custody.policy import PolicyConfig, SigningPolicy
from sweeper.errors import SigningThrottled
from sweeper.models import USDT_MAINNET
from tests.fixtures.db import tron_address
from tests.support.raw_tx import trc20_transfer

pytestmark = pytest.mark.unit

HOT = tron_address("rate-hot")
NOW_MS = 1_700_000_000_000


class Monotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _policy(limit: int = 3, window: float = 3600.0) -> tuple[SigningPolicy, Monotonic]:
    config = PolicyConfig(
        {USDT_MAINNET: HOT}, HOT, None, 0, None, 50_000_000, rate_limit=limit, rate_window_s=window
    )
    clock = Monotonic()
    return SigningPolicy(config, lambda _a: True, clock_ms=lambda: NOW_MS, monotonic=clock), clock


def _sign(policy: SigningPolicy, owner: str) -> None:
    policy.check(
        owner, trc20_transfer(owner, HOT, 7, now_ms=NOW_MS), Intent("trc20_transfer", USDT_MAINNET, 7, HOT)
    )


def test_addresses_idle_for_a_whole_window_are_forgotten_as_others_are_signed_for() -> None:
    policy, clock = _policy()
    first = [tron_address(f"rate-{n}") for n in range(200)]
    for owner in first:
        _sign(policy, owner)
    assert policy.tracked_addresses() == 200
    clock.now += 3601  # a window later every one of them is idle
    later = [tron_address(f"rate-later-{n}") for n in range(30)]
    for owner in later:
        _sign(policy, owner)
    # each signature drops up to 8 that aged out: 30 of them cleared 200 old ones and kept the new 30
    assert policy.tracked_addresses() == 30


def test_the_limit_still_holds_within_the_window_and_lifts_after_it() -> None:
    policy, clock = _policy(limit=3, window=60.0)
    owner = tron_address("rate-busy")
    for _ in range(3):
        _sign(policy, owner)
        clock.now += 1
    with pytest.raises(SigningThrottled):
        _sign(policy, owner)
    for n in range(20):  # other addresses signed meanwhile do not reset or drop the busy one
        _sign(policy, tron_address(f"rate-other-{n}"))
    with pytest.raises(SigningThrottled):
        _sign(policy, owner)
    clock.now += 60
    _sign(policy, owner)  # the window has passed: allowed again
