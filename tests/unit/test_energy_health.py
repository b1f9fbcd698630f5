"""The per-source circuit breaker: closed, open after N transient failures, half-open after the reset time."""

from __future__ import annotations

import pytest

from sweeper.energy.health import BreakerState, CircuitBreaker
from sweeper.errors import ProviderInvalidRequest, ProviderUnavailable

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_n_consecutive_transient_failures():
    clock = Clock()
    breaker = CircuitBreaker("itrx", failures=3, reset_seconds=60, clock=clock)
    for _ in range(2):
        breaker.record_failure(ProviderUnavailable())
        assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure(ProviderUnavailable())
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert not breaker.healthy


def test_a_success_resets_the_count():
    breaker = CircuitBreaker("itrx", failures=2, clock=Clock())
    breaker.record_failure(ProviderUnavailable())
    breaker.record_success()
    breaker.record_failure(ProviderUnavailable())
    assert breaker.state is BreakerState.CLOSED


def test_refusals_that_are_not_transient_do_not_open_the_circuit():
    breaker = CircuitBreaker("itrx", failures=1, clock=Clock())
    breaker.record_failure(ProviderInvalidRequest())
    assert breaker.state is BreakerState.CLOSED


def test_after_the_reset_time_one_trial_call_is_let_through():
    clock = Clock()
    breaker = CircuitBreaker("itrx", failures=1, reset_seconds=60, clock=clock)
    breaker.record_failure(ProviderUnavailable())
    clock.now += 59
    assert breaker.state is BreakerState.OPEN
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # only one trial at a time


def test_a_failed_trial_opens_the_circuit_again_and_a_good_one_closes_it():
    clock = Clock()
    breaker = CircuitBreaker("itrx", failures=3, reset_seconds=10, clock=clock)
    for _ in range(3):
        breaker.record_failure(ProviderUnavailable())
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure(ProviderUnavailable())
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.healthy


def test_a_trip_holds_the_breaker_open_for_its_reset_time_even_if_a_call_succeeds():
    from sweeper.energy.health import BreakerState, CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker("ea888fee", failures=3, reset_seconds=60, clock=lambda: now[0])
    breaker.trip()
    breaker.record_success()  # the order it tripped on was still delivered
    assert breaker.state is BreakerState.OPEN and not breaker.healthy
    now[0] = 61.0
    assert breaker.healthy
