"""Quotes kept per rental source for a few seconds: repeated questions are answered once, nothing else is."""

from __future__ import annotations

import pytest

from sweeper.energy.base import EnergySource
from sweeper.energy.quote_cache import QuotedSource, cached
from sweeper.errors import ProviderUnavailable
from tests.support.memory import Clock, MemoryBurn, MemoryChain, MemorySource, MemoryStake

pytestmark = pytest.mark.unit

A = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
B = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
HOT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def wrapped(seconds: float = 3.0) -> tuple[QuotedSource, MemorySource, Clock]:
    clock = Clock()
    inner = MemorySource("itrx", MemoryChain())
    return QuotedSource(inner, seconds, clock=clock), inner, clock


def test_the_same_question_within_the_window_is_asked_once_for_every_address():
    source, inner, _ = wrapped()
    first = source.quote(A, 65_000, to=HOT)
    again = source.quote(B, 65_000, to=HOT)
    assert again == first
    assert inner.quotes == 1


def test_after_the_window_the_source_is_asked_again_and_its_new_price_is_used():
    source, inner, clock = wrapped(3.0)
    source.quote(A, 65_000, to=HOT)
    inner.price = 80
    clock.now += 3.0
    assert source.quote(A, 65_000, to=HOT).cost_sun == 65_000 * 80
    assert inner.quotes == 2


def test_another_amount_or_recipient_is_another_question():
    source, inner, _ = wrapped()
    source.quote(A, 65_000, to=HOT)
    source.quote(A, 32_000, to=HOT)
    source.quote(A, 65_000, to=B)
    assert inner.quotes == 3


def test_activation_quotes_and_failures_are_never_kept():
    source, inner, _ = wrapped()
    source.quote(A, 65_000, to=HOT, activate=True)
    source.quote(A, 65_000, to=HOT, activate=True)
    assert inner.quotes == 2
    inner.quote_error = ProviderUnavailable("down")
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            source.quote(A, 65_000, to=HOT)
    assert inner.quotes == 4
    inner.quote_error = None
    source.quote(A, 65_000, to=HOT)
    assert inner.quotes == 5


def test_orders_always_reach_the_source_and_the_wrapper_is_still_an_energy_source():
    source, inner, _ = wrapped()
    assert isinstance(source, EnergySource)
    source.order("sw1a1o1", A, 65_000, to=HOT)
    assert source.lookup("sw1a1o1") is not None
    assert inner.paid == ["sw1a1o1"]
    assert source.name == "itrx" and source.capabilities == inner.capabilities


def test_only_rental_sources_are_wrapped_and_zero_seconds_wraps_none():
    chain = MemoryChain()
    sources = {"itrx": MemorySource("itrx", chain), "stake": MemoryStake("stake", chain)}
    sources["burn"] = MemoryBurn("burn", chain)
    out = cached(sources, 3.0)
    assert isinstance(out["itrx"], QuotedSource)
    assert out["stake"] is sources["stake"] and out["burn"] is sources["burn"]
    assert list(out) == list(sources)
    assert all(v is sources[k] for k, v in cached(sources, 0).items())
