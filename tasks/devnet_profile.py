"""SWEEPER_* settings that point every part of the sweeper at a running devnet (demo, tests, benchmarks)."""

from __future__ import annotations

from typing import Protocol

from devnet.providers.registry import simulators

# The standard BIP39 test phrase: public, so only ever used against the devnet.
DEVNET_MNEMONIC = " ".join(["abandon"] * 11 + ["about"])


class DevnetUrls(Protocol):
    """Where a devnet serves its node and each provider simulator (a ``Devnet`` or a handle on one)."""

    @property
    def node_url(self) -> str: ...

    def provider_url(self, name: str) -> str: ...


def provider_env(devnet: DevnetUrls) -> dict[str, str]:
    """``SWEEPER_ENERGY__<NAME>__*`` for every simulator: its URL and the sample credentials it accepts."""
    env: dict[str, str] = {}
    for spec in simulators():
        prefix = f"SWEEPER_ENERGY__{spec.name.upper()}__"
        env[prefix + spec.url_setting.upper()] = devnet.provider_url(spec.name)
        env.update({prefix + setting.upper(): value for setting, value in spec.credentials.items()})
    return env


def devnet_env(
    devnet: DevnetUrls,
    *,
    database_url: str,
    broker_url: str,
    destination: str,
    mnemonic_file: str | None = None,
    order: str = "itrx,ea888fee,tronzap",
    callback_public_url: str | None = None,
    confirmations: int = 2,
    poll_seconds: float = 0.5,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment variables for a sweeper process that talks to ``devnet`` and its providers."""
    env = {
        "SWEEPER_TRON__NODE_URL": devnet.node_url,
        "SWEEPER_DATABASE_URL": database_url,
        "SWEEPER_BROKER_URL": broker_url,
        "SWEEPER_DESTINATION": destination,
        "SWEEPER_CONFIRMATIONS": str(confirmations),
        "SWEEPER_POLL_SECONDS": str(poll_seconds),
        "SWEEPER_ENERGY__ORDER": order,
        # The web process would otherwise probe every provider's balance, using up faults a test set.
        "SWEEPER_WEB__PROBE_INTERVAL_SECONDS": "0",
        **provider_env(devnet),
    }
    if mnemonic_file:
        env["SWEEPER_KEYS__MNEMONIC_FILE"] = mnemonic_file
    if callback_public_url:
        env["SWEEPER_CALLBACK_PUBLIC_URL"] = callback_public_url
    env.update(extra or {})
    return env
