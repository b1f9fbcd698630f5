"""Composing custody from settings: the signing policy, local keys behind it, the worker's signer client.

Two shapes (docs/SECURITY.md §2): with ``SWEEPER_KEYS__REMOTE_SIGNER_URL`` a process holds no key and
asks the signer service; without it (the embedded demo, tests) it opens the keys itself and signs
through the same ``SigningPolicy`` the service uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from config.settings import Settings
from sweeper.chain.intent import Intent
from sweeper.chain.port import Signer
from sweeper.custody.guarded import PolicyKeyring
from sweeper.custody.policy import PolicyConfig, SigningPolicy
from sweeper.errors import ConfigError, KeystoreError, SignerRejected
from sweeper.keys import (
    ChainedKeyring,
    Keyring,
    KeystoreKeyring,
    MnemonicKeyring,
    RemoteKeyring,
    SignerClient,
    Web3Keyring,
)
from sweeper.keys.web3 import is_web3_keyfile, keyfiles_in, refuse_loose_permissions
from sweeper.ledger.repository import Ledger

log = structlog.get_logger("sweeper.custody")


def _read_secret_file(path: str, var: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([f"{var}: cannot read {path} ({exc.strerror or exc})"]) from None


def hmac_key(settings: Settings) -> bytes | None:
    """The signer's request key, from its file (preferred) or the secret variable."""
    s = settings.signer
    if s.hmac_key_file:
        value = _read_secret_file(s.hmac_key_file, "SWEEPER_SIGNER__HMAC_KEY_FILE")
    elif s.hmac_key is not None:
        value = s.hmac_key.get_secret_value().strip()
    else:
        return None
    if len(value.encode()) < 32:
        raise ConfigError(["SWEEPER_SIGNER__HMAC_KEY(_FILE): the key must be at least 32 bytes"])
    return value.encode()


def mnemonic_of(settings: Settings) -> str | None:
    """The deposit mnemonic, from its file (preferred) or the secret variable.

    A configured file that cannot be read is an error, never silently "no mnemonic": every deposit
    would then fail only after its energy was bought.
    """
    k = settings.keys
    if k.mnemonic_file:
        return _read_secret_file(k.mnemonic_file, "SWEEPER_KEYS__MNEMONIC_FILE")
    if k.mnemonic is not None:
        return k.mnemonic.get_secret_value().strip()
    return None


def keystore_password(settings: Settings) -> str:
    k = settings.keys
    if k.keystore_password_file:
        return _read_secret_file(k.keystore_password_file, "SWEEPER_KEYS__KEYSTORE_PASSWORD_FILE")
    return k.keystore_password.get_secret_value() if k.keystore_password else ""


def keystore_keyrings(settings: Settings) -> list[Keyring]:
    """The imported keys: Web3 secret storage files (a file or a directory), or the deprecated format."""
    k = settings.keys
    rings: list[Keyring] = []
    if not (k.keystore_file or k.keystore_dir):
        return rings
    password = keystore_password(settings)
    files: list[Path] = []
    if k.keystore_dir:
        files += keyfiles_in(k.keystore_dir)
    if k.keystore_file:
        path = Path(k.keystore_file)
        refuse_loose_permissions(path)
        try:
            doc: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeystoreError(f"keystore file {path} is unreadable: {type(exc).__name__}") from None
        if is_web3_keyfile(doc):
            files.append(path)
        else:
            log.warning(
                "keys.deprecated_keystore",
                path=str(path),
                detail="the sweeper-keystore format is deprecated: move each key to a Web3 secret storage "
                "file (SWEEPER_KEYS__KEYSTORE_DIR)",
            )
            rings.append(KeystoreKeyring(path, password))
    if files:
        rings.insert(0, Web3Keyring(files, password))
    return rings


def mnemonic_index(ledger: Ledger, address: str) -> int | None:
    """The derivation index the ledger recorded for a deposit address (key_ref ``mnemonic:<i>``)."""
    row = ledger.get_address(address)
    if row is None or not row.key_ref.startswith("mnemonic:"):
        return None
    try:
        return int(row.key_ref.split(":", 1)[1])
    except ValueError:
        return None


def local_keyring(settings: Settings, ledger: Ledger) -> ChainedKeyring:
    """Mnemonic-derived deposit keys, then imported keys: the keys themselves (the signer's, the demo's)."""
    rings: list[Keyring] = []
    phrase = mnemonic_of(settings)
    if phrase:
        passphrase = settings.keys.passphrase.get_secret_value() if settings.keys.passphrase else ""
        rings.append(MnemonicKeyring(phrase, passphrase, index_of=lambda a: mnemonic_index(ledger, a)))
    rings += keystore_keyrings(settings)
    return ChainedKeyring(*rings)


def holds_keys(settings: Settings) -> bool:
    k = settings.keys
    return bool(k.mnemonic_file or (k.mnemonic and k.mnemonic.get_secret_value().strip())) or bool(
        k.keystore_file or k.keystore_dir
    )


def policy_config(settings: Settings) -> PolicyConfig:
    """The signing policy from the settings every process already reads (no second fee ceiling)."""
    destinations = settings.destinations()
    burn = settings.energy.provider("burn") if "burn" in settings.energy.registry else None
    stake = settings.energy.provider("stake") if "stake" in settings.energy.registry else None
    s = settings.signer
    return PolicyConfig(
        destinations=destinations,
        trx_destination=next(iter(destinations.values()), None),
        gas_wallet=getattr(burn, "gas_wallet", None),
        burn_cap_sun=int(getattr(burn, "max_sun_per_sweep", 0)),
        stake_owner=getattr(stake, "owner", None),
        max_fee_limit_sun=settings.energy.max_fee_limit_sun,
        max_expiration_ms=int(s.max_expiration_seconds * 1000),
        max_clock_skew_ms=int(s.max_clock_skew_seconds * 1000),
        rate_limit=s.rate_per_address,
        rate_window_s=s.rate_window_seconds,
    )


def signing_policy(
    settings: Settings, ledger: Ledger, clock_ms: Callable[[], int] | None = None
) -> SigningPolicy:
    """The policy over the ledger's watch list; ``clock_ms`` the clock expiry is judged by."""
    watched = lambda address: bool(ledger.is_watched([address]))  # noqa: E731 - one read per signature
    if clock_ms is None:
        return SigningPolicy(policy_config(settings), watched)
    return SigningPolicy(policy_config(settings), watched, clock_ms)


class NoSigning:
    """The keyring of a process given neither keys nor the signer's request key (the receiver): its
    signers know their address (sources are built with them) and refuse to sign."""

    def signer_for(self, address: str) -> Signer:
        return _Refusing(address)


class _Refusing:
    def __init__(self, address: str) -> None:
        self._address = address

    @property
    def address(self) -> str:
        return self._address

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        raise SignerRejected(
            f"this process may not sign (no SWEEPER_SIGNER__HMAC_KEY_FILE) for {self._address}"
        )

    def probe(self) -> None:
        raise SignerRejected(
            f"this process may not sign (no SWEEPER_SIGNER__HMAC_KEY_FILE) for {self._address}"
        )


def build_keyring(settings: Settings, ledger: Ledger, clock_ms: Callable[[], int]) -> Keyring:
    """A worker's keyring: the signer service's client, or (no service) local keys behind the policy.

    A process configured with both a signer URL and keys of its own refuses to start (``startup.py``),
    so the production shape can never quietly fall back to holding keys.
    """
    url = settings.keys.remote_signer_url
    if url is not None:
        key = hmac_key(settings)
        if key is None:  # the receiver: it never signs, so it is given no request key
            return NoSigning()
        return RemoteKeyring(SignerClient(str(url), key, timeout=settings.signer.timeout))
    return PolicyKeyring(local_keyring(settings, ledger), signing_policy(settings, ledger, clock_ms))
