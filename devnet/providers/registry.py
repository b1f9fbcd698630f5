"""The simulator registry: each provider simulator declares itself once, the devnet serves what is declared.

A simulator module (``devnet/providers/<name>.py``) ends with one module-level
``SIMULATOR = SimulatorSpec(...)``: its name (the provider's name, also its fault target), its port
offset from the node's port, how to build its ASGI app, the sample credentials it accepts (keyed by the
client's setting names, so a sweeper pointed at the devnet can be configured from them), and its default
unit prices. :func:`simulators` finds every such module in this package; `build_apps`, the server's
ports, the fault targets and the admin API read it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from devnet.providers.common import Account
from devnet.providers.state import ProviderFaults, admin_endpoint

SIMULATOR_ATTRIBUTE = "SIMULATOR"
NODE = "node"
"""The node's name among the devnet's servers: port offset 0 and a fault target of its own."""


@dataclass(frozen=True, slots=True)
class SimulatorContext:
    """What a simulator is built from: the shared chain, its own faults and pool, and the time scales."""

    chain: Any
    faults: ProviderFaults
    pool: str
    """Its staked pool account on the chain, which its orders delegate energy from."""
    prices: Mapping[str, int]
    """Unit prices in sun per energy by period: its defaults overlaid with the caller's."""
    delay_blocks: int
    time_scale: float
    """Multiplies rental periods (a 1H order is reclaimed after 36 s at 0.01)."""
    callback_time_scale: float
    """Multiplies callback retry intervals."""


@dataclass(frozen=True, slots=True)
class Simulation:
    """A built simulator: the ASGI app served on its port and the customer account it bills."""

    app: Any
    account: Account

    @classmethod
    def serving(
        cls, routes: Iterable[BaseRoute], faults: ProviderFaults, account: Account, *, lifespan: Any = None
    ) -> Simulation:
        """The app of ``routes`` plus the ``/devnet/provider-faults`` admin route, billing ``account``."""
        admin = Route(
            "/devnet/provider-faults", admin_endpoint(faults, account), methods=["GET", "POST", "DELETE"]
        )
        return cls(Starlette(routes=[*routes, admin], lifespan=lifespan), account)


@dataclass(frozen=True, slots=True)
class SimulatorSpec:
    """One provider simulator, declared once in its own module as ``SIMULATOR``."""

    name: str
    port_offset: int
    """Its port is the node's port plus this (itrx 1, ea888fee 2, tronzap 3); unique, at least 1."""
    build: Callable[[SimulatorContext], Simulation]
    credentials: Mapping[str, str]
    """The sample credentials it accepts, by client setting (``api_key`` → ``SWEEPER_ENERGY__X__API_KEY``)."""
    prices: Mapping[str, int] = field(default_factory=dict)
    """Default unit prices in sun per energy, by period."""
    url_setting: str = "base_url"
    """The client setting that takes the simulator's URL."""
    fault_prefixes: tuple[str, ...] = ("/api/", "/v1/")
    """Paths the generic transport faults apply to (never its ``/devnet/provider-faults`` endpoint)."""

    def __post_init__(self) -> None:
        if self.name == NODE or not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(
                f"simulator name {self.name!r} must be a lowercase identifier other than {NODE!r}"
            )
        if self.port_offset < 1:
            raise ValueError(f"simulator {self.name!r}: port offset must be at least 1 (0 is the node)")


class SimulatorRegistry:
    """The known simulators in port order; names and port offsets are each unique."""

    def __init__(self, specs: Iterable[SimulatorSpec]) -> None:
        ordered = sorted(specs, key=lambda s: (s.port_offset, s.name))
        problems = [
            f"simulator {n!r} is declared twice" for n, c in Counter(s.name for s in ordered).items() if c > 1
        ]
        problems += [
            f"port offset {o} is declared by {' and '.join(s.name for s in ordered if s.port_offset == o)}"
            for o, c in Counter(s.port_offset for s in ordered).items()
            if c > 1
        ]
        if problems:
            raise ValueError("; ".join(problems))
        self._specs = {s.name: s for s in ordered}

    def __iter__(self) -> Iterator[SimulatorSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> SimulatorSpec:
        return self._specs[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def port_offsets(self) -> dict[str, int]:
        """Every server's offset from the node's port, the node first."""
        return {NODE: 0, **{s.name: s.port_offset for s in self}}

    def __repr__(self) -> str:
        return f"SimulatorRegistry({', '.join(self._specs)})"


def discover(*packages: str) -> SimulatorRegistry:
    """Import every module of ``packages`` (default: this one) and collect the ``SIMULATOR`` each declares."""
    specs: list[SimulatorSpec] = []
    for package in packages or (__package__ or "devnet.providers",):
        root = importlib.import_module(package)
        for info in pkgutil.iter_modules(root.__path__, f"{package}."):
            spec = vars(importlib.import_module(info.name)).get(SIMULATOR_ATTRIBUTE)
            if isinstance(spec, SimulatorSpec):
                specs.append(spec)
    return SimulatorRegistry(specs)


@cache
def simulators() -> SimulatorRegistry:
    """The provider simulators of this devnet, discovered once per process."""
    return discover()


def fault_targets() -> tuple[str, ...]:
    """Everything faults can be injected into: the node and each simulator."""
    return (NODE, *simulators().names())
