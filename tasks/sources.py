"""Composition of the energy sources from settings: built once per process, in preference order.

Which sources exist and how each is built is declared by the sources themselves (``SPEC`` in each
``sweeper/energy/<name>.py``, collected by :func:`sweeper.energy.registry.providers`). The HTTP client,
the chain adapter and the keyring are built by the caller (the worker's composition root or the CLI) and
injected, so every source shares one connection pool and one set of timeouts.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from config.settings import Settings
from sweeper.chain.port import Chain, Signer
from sweeper.energy.base import EnergySource
from sweeper.energy.http import DEFAULT_TIMEOUT, RetryPolicy
from sweeper.energy.journal import TxJournal
from sweeper.energy.registry import BuildContext
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


def callback_url(settings: Settings, name: str) -> str | None:
    """Where source ``name`` should post its callbacks (the receiver's public URL), if it should at all."""
    spec = settings.energy.registry[name]
    if settings.callback_public_url is None or not spec.wants_callbacks(settings.energy.provider(name)):
        return None
    return str(settings.callback_public_url).rstrip("/") + f"/callbacks/{name}"


def itrx_callback_url(settings: Settings) -> str | None:
    """``callback_url(settings, "itrx")``, under the name earlier callers use."""
    return callback_url(settings, "itrx")


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
    Every source that cannot be built is reported, one problem each, in one ``ConfigError``.
    """
    energy = settings.energy
    sources: dict[str, EnergySource] = {}
    problems: list[str] = []
    for name in energy.order:
        context = BuildContext(
            name=name,
            http=http,
            retry=retry,
            chain=chain,
            signer_for=signer_for,
            journal_for=journal_for,
            callback_url=callback_url(settings, name),
        )
        try:
            sources[name] = energy.registry[name].build(energy.provider(name), context)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return sources


__all__ = ["build_http_client", "build_sources", "callback_url", "itrx_callback_url"]
