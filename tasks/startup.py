"""Start-up refusals: a worker or receiver that would pay for sweeps it could never finish does not start.

Checked before a worker (``celery … worker``), the receiver (``sweeper web``) or ``sweeper config check``
goes on, one line per problem; each reads a file or the ledger, which is why settings validation does
not do it:

- the configured mnemonic (file or variable) cannot be read or is not a valid BIP39 phrase;
- the configured keystore (Web3 secret storage files, or the deprecated format) cannot be opened with
  its password, is accessible to group or others, or uses a weak KDF;
- a signer service is configured but so are keys of this process's own, or no request key;
- addresses are watched but no key source is configured at all, or mnemonic-derived addresses are
  watched without a mnemonic;
- a secret still holds a placeholder from ``.env.example`` (``change-me``).

One of our own wallets on the watch list is reported as a warning (it is never swept either way).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr
from sqlalchemy.exc import SQLAlchemyError

from config.settings import Settings
from sweeper.errors import ConfigError, SweeperError
from sweeper.keys import MnemonicKeyring
from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.migrate import current_revision
from sweeper.ledger.repository import Ledger
from tasks.custody import hmac_key, holds_keys, keystore_keyrings

PLACEHOLDER_SECRETS = frozenset({"change-me", "changeme", "change_me", "replace-me", "your-secret-here"})
"""Values ``.env.example`` ships (or that look like them): a secret still set to one was never filled in."""


@dataclass
class Readiness:
    """What stops a spending process from starting, and what it should only be told."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def readiness(settings: Settings, *, signs: bool = True) -> Readiness:
    """Every start-up problem of ``settings``, one line each.

    ``signs=False`` for a process that never signs (the callback receiver): with a signer service it
    needs no request key, so it is given none.
    """
    found = Readiness(problems=[*placeholder_secrets(settings), *loopback_in_container(settings)])
    has_remote = settings.keys.remote_signer_url is not None
    if has_remote:
        _check_remote(settings, found, signs=signs)
    has_mnemonic = _check_mnemonic(settings, found)
    has_keystore = _check_keystore(settings, found)
    _check_ledger(  # with a signer service, the service holds (and checks) the mnemonic
        settings,
        found,
        has_mnemonic=has_mnemonic or has_remote,
        any_keys=has_mnemonic or has_keystore or has_remote,
    )
    return found


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"})


def loopback_in_container(settings: Settings) -> Iterator[str]:
    """Inside a container (``SWEEPER_CONTAINER=1``, set by the image) loopback is the container itself."""
    if not settings.container:
        return
    urls = {
        "SWEEPER_TRON__NODE_URL": (str(settings.tron.node_url), "http://devnet:9090/ or your node"),
        "SWEEPER_DATABASE_URL": (settings.database_url, "the postgres service"),
        "SWEEPER_BROKER_URL": (settings.broker_url, "redis://redis:6379/0"),
    }
    for name, (url, instead) in urls.items():
        host = urlsplit(url).hostname or ""
        if host in LOOPBACK_HOSTS or host.startswith("127."):
            yield f"{name} points at {host}, which inside this container is the container itself: " + (
                f"use {instead}"
            )


def refuse_unless_ready(settings: Settings, *, signs: bool = True) -> Readiness:
    """Raise ``ConfigError`` (one problem per line) unless ``settings`` may start a spending process."""
    found = readiness(settings, signs=signs)
    if found.problems:
        raise ConfigError(found.problems)
    return found


def placeholder_secrets(model: BaseModel, prefix: str = "SWEEPER_") -> Iterator[str]:
    """One line per secret setting still holding a placeholder; the value itself is never repeated."""
    for name, value in model:
        var = f"{prefix}{name.upper()}"
        if isinstance(value, SecretStr):
            if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                yield f"{var} is still the placeholder from .env.example: set the real secret or empty it"
        elif isinstance(value, BaseModel):
            yield from placeholder_secrets(value, f"{var}__")


def _check_mnemonic(settings: Settings, found: Readiness) -> bool:
    keys = settings.keys
    passphrase = keys.passphrase.get_secret_value() if keys.passphrase else ""
    if keys.mnemonic_file:
        var = "SWEEPER_KEYS__MNEMONIC_FILE"
        try:
            phrase = Path(keys.mnemonic_file).read_text(encoding="utf-8")
        except OSError as exc:
            found.problems.append(f"{var}: cannot read {keys.mnemonic_file} ({exc.strerror or exc})")
            return False
    elif keys.mnemonic is not None and keys.mnemonic.get_secret_value().strip():
        var, phrase = "SWEEPER_KEYS__MNEMONIC", keys.mnemonic.get_secret_value()
    else:
        return False
    try:
        MnemonicKeyring(phrase, passphrase)
    except SweeperError as exc:  # InvalidMnemonic: its message never quotes the words
        found.problems.append(f"{var}: {exc}")
        return False
    return True


def _check_keystore(settings: Settings, found: Readiness) -> bool:
    keys = settings.keys
    if not (keys.keystore_file or keys.keystore_dir):
        return False
    try:
        keystore_keyrings(settings)
    except SweeperError as exc:  # KeystoreError, WrongPassword: they name the file, never the password
        var = "SWEEPER_KEYS__KEYSTORE_FILE" if keys.keystore_file else "SWEEPER_KEYS__KEYSTORE_DIR"
        found.problems.append(f"{var}: {exc}")
        return False
    return True


def _check_remote(settings: Settings, found: Readiness, *, signs: bool) -> None:
    """A process that asks the signer service holds no key of its own, and can authenticate."""
    if holds_keys(settings):
        found.problems.append(
            "SWEEPER_KEYS__REMOTE_SIGNER_URL is set and so are keys (mnemonic or keystore): with a signer "
            "service only the signer holds keys; remove them from this process's environment"
        )
    try:
        key = hmac_key(settings)
    except ConfigError as exc:
        found.problems.extend(exc.problems)
        return
    if key is None and signs:
        found.problems.append(
            "SWEEPER_KEYS__REMOTE_SIGNER_URL needs SWEEPER_SIGNER__HMAC_KEY_FILE (the signer's request key)"
        )


def _check_ledger(settings: Settings, found: Readiness, *, has_mnemonic: bool, any_keys: bool) -> None:
    """What the watch list says about the keys; nothing to say about a ledger not reachable or migrated."""
    try:
        engine = create_engine_for(settings.database_url)
    except (SQLAlchemyError, ValueError):
        return
    ledger = Ledger(engine)
    try:
        if current_revision(engine) is None:
            return
        watched = ledger.address_count()
        if watched and not any_keys:
            found.problems.append(
                f"{watched} addresses are watched but no key is configured: set SWEEPER_KEYS__MNEMONIC_FILE, "
                "SWEEPER_KEYS__KEYSTORE_FILE or SWEEPER_KEYS__REMOTE_SIGNER_URL"
            )
        elif watched and not has_mnemonic and ledger.has_key_refs("mnemonic"):
            found.problems.append(
                "watched addresses were derived from a mnemonic but no mnemonic is configured: "
                "set SWEEPER_KEYS__MNEMONIC_FILE"
            )
        own = settings.own_wallets()
        for address in sorted(ledger.is_watched(own)):
            found.warnings.append(f"{address}, {own[address]}, is on the watch list; it is never swept")
    except (SQLAlchemyError, SweeperError):
        return
    finally:
        ledger.dispose()
