"""SWEEPER_* settings that point every part of the sweeper at a running devnet (demo, tests, benchmarks)."""

from __future__ import annotations

from devnet.providers.common import (
    EA888FEE_API_KEY,
    EA888FEE_API_SECRET,
    ITRX_API_KEY,
    ITRX_API_SECRET,
    TRONZAP_API_SECRET,
    TRONZAP_API_TOKEN,
)
from devnet.server import Devnet

# The standard BIP39 test phrase: public, so only ever used against the devnet.
DEVNET_MNEMONIC = " ".join(["abandon"] * 11 + ["about"])


def devnet_env(
    devnet: Devnet,
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
        "SWEEPER_ENERGY__ITRX__BASE_URL": devnet.itrx_url,
        "SWEEPER_ENERGY__ITRX__API_KEY": ITRX_API_KEY,
        "SWEEPER_ENERGY__ITRX__API_SECRET": ITRX_API_SECRET,
        "SWEEPER_ENERGY__EA888FEE__BASE_URL": devnet.ea888fee_url,
        "SWEEPER_ENERGY__EA888FEE__API_KEY": EA888FEE_API_KEY,
        "SWEEPER_ENERGY__EA888FEE__API_SECRET": EA888FEE_API_SECRET,
        "SWEEPER_ENERGY__TRONZAP__BASE_URL": devnet.tronzap_url,
        "SWEEPER_ENERGY__TRONZAP__API_TOKEN": TRONZAP_API_TOKEN,
        "SWEEPER_ENERGY__TRONZAP__API_SECRET": TRONZAP_API_SECRET,
    }
    if mnemonic_file:
        env["SWEEPER_KEYS__MNEMONIC_FILE"] = mnemonic_file
    if callback_public_url:
        env["SWEEPER_CALLBACK_PUBLIC_URL"] = callback_public_url
    env.update(extra or {})
    return env
