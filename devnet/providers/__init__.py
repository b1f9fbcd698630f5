"""Simulators of the three energy providers (itrx, ea888fee, TronZap), each an ASGI app for its own port.

They follow docs/PROVIDERS.md: same paths, methods, signing, envelopes, error codes and statuses, and
they delegate real energy on the devnet chain from a staked pool account per provider. Default prices
(sun per energy) differ so a cost policy has a cheapest choice: ea888fee 1H 45 (minimum 65,000 energy),
TronZap 1H 52, itrx 1H 60; see `common.DEFAULT_PRICES`. The sample credentials printed in the providers'
documents are accepted, so their sample code runs against the devnet with only the URL changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devnet.providers.common import DEFAULT_BALANCE_SUN, ensure_pool, merged_prices
from devnet.providers.ea888fee import build_ea888fee
from devnet.providers.itrx import build_itrx
from devnet.providers.state import ProviderFaults
from devnet.providers.tronzap import build_tronzap

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
) -> dict[str, Any]:
    """One ASGI app per provider, keyed "itrx", "ea888fee", "tronzap".

    `delay_blocks`: blocks between an order and its delegation (at least 1). `callback_time_scale`
    multiplies itrx's callback retry intervals; `period_time_scale` (default: the same) multiplies
    rental periods, so a 1H order is reclaimed after 36 s at 0.01. `prices` overrides sun-per-energy
    unit prices per provider and period; `balances` sets each account's starting balance in sun.
    """
    table = merged_prices(prices)
    scale = callback_time_scale if period_time_scale is None else period_time_scale
    itrx_app, itrx = build_itrx(
        chain,
        ProviderFaults(faults, "itrx"),
        ensure_pool(chain, "itrx"),
        prices=table["itrx"],
        callback_time_scale=callback_time_scale,
        delay_blocks=delay_blocks,
        time_scale=scale,
    )
    ea_app, ea = build_ea888fee(
        chain,
        ProviderFaults(faults, "ea888fee"),
        ensure_pool(chain, "ea888fee"),
        prices=table["ea888fee"],
        delay_blocks=delay_blocks,
        time_scale=scale,
    )
    tz_app, tz = build_tronzap(
        chain,
        ProviderFaults(faults, "tronzap"),
        ensure_pool(chain, "tronzap"),
        prices=table["tronzap"],
        delay_blocks=delay_blocks,
        time_scale=scale,
    )
    for name, sim in (("itrx", itrx), ("ea888fee", ea), ("tronzap", tz)):
        sim.account.balance = int((balances or {}).get(name, DEFAULT_BALANCE_SUN))
    apps: dict[str, Any] = {"itrx": itrx_app, "ea888fee": ea_app, "tronzap": tz_app}
    return {name: _with_faults(app, faults, name) for name, app in apps.items()}


def _with_faults(app: Any, faults: Any, target: str) -> Any:
    """Wrap with the node helper's generic latency/5xx/timeout middleware when it is available."""
    try:
        from devnet.faults import FaultMiddleware
    except ImportError:
        return app
    return FaultMiddleware(app, faults, target, prefixes=("/api/", "/v1/"))  # not /devnet/provider-faults
