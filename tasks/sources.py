"""Composition of the energy sources from settings: built once per process, in preference order.

The HTTP client, the chain adapter and the keyring are built by the caller (the worker's composition
root or the CLI) and injected, so every source shares one connection pool and one set of timeouts.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from config.settings import Settings
from sweeper.chain.port import Chain, Signer
from sweeper.energy.base import EnergySource
from sweeper.energy.burn import BurnSource
from sweeper.energy.ea888fee import Ea888feeClient
from sweeper.energy.http import DEFAULT_TIMEOUT, ProviderHttp, RetryPolicy
from sweeper.energy.itrx import ItrxClient
from sweeper.energy.journal import MemoryJournal, TxJournal
from sweeper.energy.stake import StakeSource
from sweeper.energy.tronzap import TronzapClient
from sweeper.errors import ConfigError

USER_AGENT = "sweeper/0.1 (+energy)"


def build_http_client(timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """The one provider HTTP client of a process: pooled connections, explicit timeouts, no redirects."""
    return httpx.Client(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        follow_redirects=False,
    )


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else ""


def itrx_callback_url(settings: Settings) -> str | None:
    """Where itrx should post its callbacks (the receiver's public URL), if callbacks are on."""
    if settings.callback_public_url is None or not settings.energy.itrx.callbacks:
        return None
    return str(settings.callback_public_url).rstrip("/") + "/callbacks/itrx"


def build_sources(
    settings: Settings,
    http: httpx.Client,
    chain: Chain | None = None,
    signer_for: Callable[[str], Signer] | None = None,
    *,
    journal_for: Callable[[str], TxJournal] | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, EnergySource]:
    """Every configured source, keyed by name, in the order of ``SWEEPER_ENERGY__ORDER``.

    ``signer_for(address)`` hands out the stake owner's / gas wallet's signer (a ``Keyring``'s method);
    ``journal_for(name)`` gives stake and burn their durable transaction journal (in memory if omitted).
    """
    energy = settings.energy
    journal_for = journal_for or (lambda name: MemoryJournal())
    sources: dict[str, EnergySource] = {}
    problems: list[str] = []

    def transport(name: str, base_url: object) -> ProviderHttp:
        return ProviderHttp(http, str(base_url), provider=name, retry=retry)

    for name in energy.order:
        if name == "itrx":
            sources[name] = ItrxClient(
                transport(name, energy.itrx.base_url),
                api_key=_secret(energy.itrx.api_key),
                api_secret=_secret(energy.itrx.api_secret),
                period=energy.itrx.period,
                use_collect_manual=energy.itrx.use_collect_manual,
                callback_url=itrx_callback_url(settings),
            )
        elif name == "ea888fee":
            sources[name] = Ea888feeClient(
                transport(name, energy.ea888fee.base_url),
                api_key=_secret(energy.ea888fee.api_key),
                api_secret=_secret(energy.ea888fee.api_secret),
                period=energy.ea888fee.period,
            )
        elif name == "tronzap":
            sources[name] = TronzapClient(
                transport(name, energy.tronzap.base_url),
                api_token=_secret(energy.tronzap.api_token),
                api_secret=_secret(energy.tronzap.api_secret),
                duration_hours=energy.tronzap.duration_hours,
            )
        elif name in ("stake", "burn"):
            address = energy.stake.owner if name == "stake" else energy.burn.gas_wallet
            if chain is None or signer_for is None or address is None:
                problems.append(f"energy source {name!r} needs the chain adapter and a signer for its wallet")
                continue
            signer = signer_for(address)
            if signer.address != address:
                problems.append(f"energy source {name!r}: the signer's address is not {address}")
                continue
            if name == "stake":
                sources[name] = StakeSource(chain, signer, journal=journal_for(name))
            else:
                sources[name] = BurnSource(
                    chain, signer, journal=journal_for(name), max_sun_per_sweep=energy.burn.max_sun_per_sweep
                )
    if problems:
        raise ConfigError(problems)
    return sources


__all__ = ["build_http_client", "build_sources", "itrx_callback_url"]
