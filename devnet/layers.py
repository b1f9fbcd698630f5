"""Copy-on-write layers of a mapping: the pending state and the per-block states behind `/walletsolidity`.

A `Layer` sits on a parent mapping (a plain dict or another layer). Reading a key the layer does not hold
copies the parent's value into the layer first (`copy`), so a caller may mutate what it got without
touching the parent; writes and deletions stay in the layer. `merge_into` folds a layer into the dict
under it; that is how a block's changes become part of the solid state once the block is solid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MISSING = object()


def same(value: V) -> V:
    """The copy function for immutable values (ints, strings, tuples)."""
    return value


class Layer(MutableMapping[K, V], Generic[K, V]):
    """A mapping whose reads fall through to `parent` (copied on first read) and whose writes stay here."""

    def __init__(self, parent: Mapping[K, V], copy: Callable[[V], V]) -> None:
        self.parent = parent
        self.copy = copy
        self.local: dict[K, V] = {}
        self.deleted: set[K] = set()

    def _below(self, key: K) -> object:
        parent: Mapping[K, V] = self.parent
        while isinstance(parent, Layer):
            if key in parent.local:
                return parent.local[key]
            if key in parent.deleted:
                return _MISSING
            parent = parent.parent
        return parent.get(key, _MISSING)

    def __getitem__(self, key: K) -> V:
        if key in self.local:
            return self.local[key]
        if key in self.deleted:
            raise KeyError(key)
        found = self._below(key)
        if found is _MISSING:
            raise KeyError(key)
        value = self.local[key] = self.copy(found)  # type: ignore[arg-type]
        return value

    def __contains__(self, key: object) -> bool:
        if key in self.local:
            return True
        if key in self.deleted:
            return False
        return self._below(key) is not _MISSING  # type: ignore[arg-type]

    def __setitem__(self, key: K, value: V) -> None:
        self.local[key] = value
        self.deleted.discard(key)

    def __delitem__(self, key: K) -> None:
        if key not in self:
            raise KeyError(key)
        self.local.pop(key, None)
        self.deleted.add(key)

    def _keys(self) -> dict[K, None]:
        chain: list[Layer[K, V]] = []
        parent: Mapping[K, V] = self
        while isinstance(parent, Layer):
            chain.append(parent)
            parent = parent.parent
        keys: dict[K, None] = dict.fromkeys(parent)
        for layer in reversed(chain):
            for key in layer.deleted:
                keys.pop(key, None)
            keys.update(dict.fromkeys(layer.local))
        return keys

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def flat(self) -> dict[K, V]:
        """Every key's current value, without copying anything into this layer."""
        chain: list[Layer[K, V]] = []
        parent: Mapping[K, V] = self
        while isinstance(parent, Layer):
            chain.append(parent)
            parent = parent.parent
        out: dict[K, V] = dict(parent)
        for layer in reversed(chain):
            for key in layer.deleted:
                out.pop(key, None)
            out.update(layer.local)
        return out

    def peek(self, key: K) -> V | None:
        """The current value of `key` without copying it into this layer (for read-only callers)."""
        if key in self.local:
            return self.local[key]
        if key in self.deleted:
            return None
        found = self._below(key)
        return None if found is _MISSING else found  # type: ignore[return-value]

    def merge_into(self, target: MutableMapping[K, V]) -> None:
        """Apply this layer's writes and deletions to `target` (the dict it sits on) and empty it."""
        for key in self.deleted:
            target.pop(key, None)
        target.update(self.local)
        self.local.clear()
        self.deleted.clear()


def flat(mapping: Mapping[K, V]) -> dict[K, V]:
    """A plain dict of any mapping (a layer is read through without copying into it)."""
    return mapping.flat() if isinstance(mapping, Layer) else dict(mapping)
