"""Imported keys (gas wallet, stake owner) in standard Web3 secret storage files, one key per file.

The format every wallet tool reads and writes (version 3: scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR,
a keccak MAC), handled by ``eth-keyfile``; a TRON key is the same secp256k1 key, so the file holds it
unchanged (its ``address`` field, Ethereum-style, is ignored: the TRON address is derived from the key).
Files are refused when the group or others may access them, and when their KDF is weaker than
``MIN_SCRYPT_N`` / ``MIN_PBKDF2_ITERATIONS`` (docs/SECURITY.md §5).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from eth_keyfile.keyfile import create_keyfile_json, decode_keyfile_json

from sweeper.keys.errors import KeystoreError, UnknownKey, WrongPassword
from sweeper.keys.local import LocalSigner, address_of, is_private_key

MIN_SCRYPT_N = 2**17
MIN_PBKDF2_ITERATIONS = 600_000
"""OWASP's Password Storage Cheat Sheet: PBKDF2-HMAC-SHA256 at 600,000 iterations; scrypt at N=2^17."""
WRITE_SCRYPT_N = 2**18  # eth-keyfile's and geth's standard scrypt N


def refuse_loose_permissions(path: Path) -> None:
    """``KeystoreError`` if anyone but the owner may read or write ``path`` (key material)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeystoreError(f"keystore file {path} does not exist") from None
    except OSError as exc:
        raise KeystoreError(f"keystore file {path} is unreadable: {type(exc).__name__}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeystoreError(
            f"keystore file {path} is accessible to its group or others (mode {stat.S_IMODE(mode):o}): "
            "chmod 600 it"
        )


def is_web3_keyfile(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("version") == 3
        and isinstance(doc.get("crypto", doc.get("Crypto")), dict)
    )


def _check_kdf(path: Path, doc: dict[str, Any]) -> None:
    crypto = doc.get("crypto", doc.get("Crypto")) or {}
    kdf, params = crypto.get("kdf"), crypto.get("kdfparams") or {}
    try:
        if kdf == "scrypt" and int(params["n"]) >= MIN_SCRYPT_N:
            return
        if (
            kdf == "pbkdf2"
            and params.get("prf") == "hmac-sha256"
            and int(params["c"]) >= MIN_PBKDF2_ITERATIONS
        ):
            return
    except (KeyError, TypeError, ValueError):
        pass
    raise KeystoreError(
        f"keystore file {path} uses a weak or unknown KDF: scrypt with n >= {MIN_SCRYPT_N} or "
        f"pbkdf2 (hmac-sha256) with c >= {MIN_PBKDF2_ITERATIONS} is required"
    )


def read_keyfile(path: str | os.PathLike[str], password: str) -> bytes:
    """The private key in one Web3 secret storage file (checked: permissions, KDF strength, MAC)."""
    target = Path(path)
    refuse_loose_permissions(target)
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"keystore file {target} is unreadable: {type(exc).__name__}") from None
    if not is_web3_keyfile(doc):
        raise KeystoreError(f"{target} is not a Web3 secret storage (version 3) file")
    _check_kdf(target, doc)
    try:
        key = bytes(decode_keyfile_json(doc, password.encode()))
    except ValueError:  # eth-keyfile: "MAC mismatch" for a wrong password
        raise WrongPassword(f"the password does not open keystore file {target}") from None
    except (KeyError, TypeError, NotImplementedError):
        raise KeystoreError(f"keystore file {target} is malformed") from None
    if not is_private_key(key):
        raise KeystoreError(f"keystore file {target} holds no valid private key")
    return key


def write_keyfile(
    path: str | os.PathLike[str], private_key: bytes, password: str, *, scrypt_n: int = WRITE_SCRYPT_N
) -> str:
    """Write ``private_key`` as a new owner-only Web3 secret storage file (scrypt); its TRON address."""
    if not password:
        raise KeystoreError("a keystore needs a non-empty password")
    if scrypt_n < MIN_SCRYPT_N:
        raise KeystoreError(f"scrypt n must be at least {MIN_SCRYPT_N}")
    address = address_of(private_key)
    target = Path(path)
    if target.exists():
        raise KeystoreError(f"keystore file {target} already exists")
    doc = create_keyfile_json(private_key, password.encode(), kdf="scrypt", iterations=scrypt_n)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return address


def keyfiles_in(directory: str | os.PathLike[str]) -> list[Path]:
    """The ``*.json`` files of a keystore directory (standard tools write one file per key)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise KeystoreError(f"keystore directory {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


class Web3Keyring:
    """Signers for the keys of Web3 secret storage files, all opened with one password at start-up."""

    __slots__ = ("__keys", "_paths")

    def __init__(self, paths: Iterable[str | os.PathLike[str]], password: str) -> None:
        self._paths = [Path(p) for p in paths]
        keys: dict[str, bytes] = {}
        for path in self._paths:
            key = read_keyfile(path, password)
            keys[address_of(key)] = key
        self.__keys = keys

    def addresses(self) -> list[str]:
        return sorted(self.__keys)

    def signer_for(self, address: str) -> LocalSigner:
        key = self.__keys.get(address)
        if key is None:
            raise UnknownKey(f"no keystore file holds a key for {address}")
        return LocalSigner(key)

    def __repr__(self) -> str:
        return f"Web3Keyring(files={len(self._paths)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("keyrings hold secrets and cannot be pickled or copied")
