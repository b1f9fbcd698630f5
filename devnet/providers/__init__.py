"""Simulators of the energy providers, each an ASGI app for its own port, found by `registry.simulators()`.

Each simulator module (`itrx.py`, `ea888fee.py`, `tronzap.py`, …) declares one `SIMULATOR` spec: its
name, port offset, builder, the sample credentials it accepts and its default prices. They follow
docs/PROVIDERS.md: same paths, methods, signing, envelopes, error codes and statuses, and they delegate
real energy on the devnet chain from a staked pool account per provider. Default prices (sun per energy)
differ so a cost policy has a cheapest choice: ea888fee 1H about 45 (listed as 122 in its own unit;
minimum 65,000 energy), TronZap 1H 52, itrx 1H 60; see `common.DEFAULT_PRICES`. The sample
credentials printed in the providers' documents are accepted, so their sample code runs against the
devnet with only the URL changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devnet.providers.common import DEFAULT_BALANCE_SUN, ensure_pool
from devnet.providers.registry import SimulatorContext, SimulatorRegistry, simulators
from devnet.providers.state import ProviderFaults

__all__ = ["build_apps"]


def build_apps(
    chain: Any,
    faults: Any,
    *,
    delay_blocks: int = 1,
    callback_time_scale: float = 1.0,
    prices: Mapping[str, Mapping[str, int]] | None = None,
    period_time_scale: float | None = None,
    balances: Mapping[str, int] | None = None,
    registry: SimulatorRegistry | None = None,
) -> dict[str, Any]:
    """One ASGI app per registered simulator, keyed by its name ("itrx", "ea888fee", "tronzap", …).

    `delay_blocks`: blocks between an order and its delegation (at least 1). `callback_time_scale`
    multiplies callback retry intervals; `period_time_scale` (default: the same) multiplies rental
    periods, so a 1H order is reclaimed after 36 s at 0.01. `prices` overrides sun-per-energy unit prices
    per provider and period; `balances` sets each account's starting balance in sun.
    """
    from devnet.faults import FaultMiddleware  # devnet.faults reads the registry of this package

    scale = callback_time_scale if period_time_scale is None else period_time_scale
    apps: dict[str, Any] = {}
    for spec in registry if registry is not None else simulators():
        context = SimulatorContext(
            chain=chain,
            faults=ProviderFaults(faults, spec.name),
            pool=ensure_pool(chain, spec.name),
            prices={**spec.prices, **{p: int(v) for p, v in (prices or {}).get(spec.name, {}).items()}},
            delay_blocks=delay_blocks,
            time_scale=scale,
            callback_time_scale=callback_time_scale,
        )
        built = spec.build(context)
        built.account.balance = int((balances or {}).get(spec.name, DEFAULT_BALANCE_SUN))
        apps[spec.name] = FaultMiddleware(built.app, faults, spec.name, prefixes=spec.fault_prefixes)
    return apps
