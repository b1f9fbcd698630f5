"""Copy-on-write state layers: what the pending pool and the per-block solid states are built from."""

from __future__ import annotations

import pytest

from devnet.accounts import Account
from devnet.layers import Layer, flat, same
from devnet.state import State
from devnet.usdt import USDT_HEX

pytestmark = pytest.mark.unit

ALICE, BOB, CAROL = "41" + "aa" * 20, "41" + "bb" * 20, "41" + "cc" * 20


def test_a_layer_reads_through_copies_on_read_and_never_changes_what_is_below():
    base = {"a": [1], "b": [2]}
    layer: Layer[str, list[int]] = Layer(base, list)

    layer["a"].append(9)
    layer["c"] = [3]
    del layer["b"]

    assert base == {"a": [1], "b": [2]}
    assert dict(layer.items()) == {"a": [1, 9], "c": [3]}
    assert "b" not in layer and len(layer) == 2
    with pytest.raises(KeyError):
        del layer["b"]


def test_peek_and_flat_read_without_copying_into_the_layer():
    base = {"a": 1, "b": 2}
    middle = Layer(base, same)
    middle["b"] = 20
    top = Layer(middle, same)
    del top["a"]

    assert top.peek("b") == 20 and top.peek("a") is None
    assert flat(top) == {"b": 20}
    assert top.local == {} and flat(base) == base


def test_merging_a_layer_applies_its_writes_and_deletions_to_the_dict_below():
    base = {"a": 1, "b": 2}
    layer = Layer(base, same)
    layer["a"] = 10
    del layer["b"]
    layer["c"] = 3

    layer.merge_into(base)

    assert base == {"a": 10, "c": 3}
    assert layer.local == {} and layer.deleted == set()
    assert dict(layer.items()) == base


def test_token_balances_survive_merging_the_oldest_of_several_block_layers():
    base = State()
    base.tokens[USDT_HEX].mint(ALICE, 100)
    block1 = base.child()
    block1.tokens[USDT_HEX].balances[BOB] = 5
    block2 = block1.child()
    block2.tokens[USDT_HEX].balances[CAROL] = 7
    block2.accounts[ALICE] = Account(ALICE, balance=3)
    pending = block2.child()
    pending.tokens[USDT_HEX].balances[ALICE] = 1

    block1.merge_into(base)
    block2.rebase(base)

    assert base.tokens[USDT_HEX].balances == {ALICE: 100, BOB: 5}
    assert [pending.tokens[USDT_HEX].balance_of(a) for a in (ALICE, BOB, CAROL)] == [1, 5, 7]
    block2.merge_into(base)
    assert base.tokens[USDT_HEX].balances == {ALICE: 100, BOB: 5, CAROL: 7}
    assert base.accounts[ALICE].balance == 3
    assert isinstance(base.tokens[USDT_HEX].balances, dict)
