"""Deprecated: the project's own keystore format; new keystores are Web3 secret storage (``web3.py``).

Still read (``SWEEPER_KEYS__KEYSTORE_FILE`` pointing at a ``sweeper-keystore`` file), never removed; the
signer warns at start-up. A password-encrypted JSON file of imported private keys (gas wallet, stake
owner, …), refused like a standard keyfile when its group or others may access it.

One scrypt-derived key opens the file; each private key is sealed with AES-256-GCM under a fresh nonce,
with its address as associated data so entries cannot be swapped between addresses unnoticed::

    {"format": "sweeper-keystore", "version": 1,
     "kdf": {"name": "scrypt", "salt": "<hex>", "n": 131072, "r": 8, "p": 1},
     "check": {"nonce": "<hex>", "ciphertext": "<hex>", "tag": "<hex>"},
     "keys": {"T…": {"nonce": "<hex>", "ciphertext": "<hex>", "tag": "<hex>"}}}

``check`` seals a fixed text, so a wrong password is told apart from a damaged entry.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any, NoReturn

from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt

from sweeper.keys.errors import KeystoreError, UnknownKey, WrongPassword
from sweeper.keys.local import LocalSigner, address_of, is_private_key
from sweeper.keys.web3 import refuse_loose_permissions

FORMAT = "sweeper-keystore"
VERSION = 1
DEFAULT_SCRYPT_N = 2**17
MAX_SCRYPT_N = 2**20  # refuse files that would take minutes (or GBs) to open
_CHECK_TEXT = b"sweeper keystore v1"
_CHECK_AD = b"check"


def _seal(key: bytes, plaintext: bytes, associated: bytes) -> dict[str, str]:
    cipher = AES.new(key, AES.MODE_GCM, nonce=secrets.token_bytes(12))
    cipher.update(associated)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return {"nonce": cipher.nonce.hex(), "ciphertext": ciphertext.hex(), "tag": tag.hex()}


def _open(key: bytes, sealed: Any, associated: bytes) -> bytes:
    """The plaintext, or ValueError if the entry is malformed or fails authentication."""
    if not isinstance(sealed, dict):
        raise ValueError("sealed entry is not an object")
    cipher = AES.new(key, AES.MODE_GCM, nonce=bytes.fromhex(sealed["nonce"]))
    cipher.update(associated)
    plaintext: bytes = cipher.decrypt_and_verify(
        bytes.fromhex(sealed["ciphertext"]), bytes.fromhex(sealed["tag"])
    )
    return plaintext


def _derive(password: str, kdf: dict[str, Any]) -> bytes:
    n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    if kdf.get("name") != "scrypt" or n < 2 or n & (n - 1) or n > MAX_SCRYPT_N or not (0 < r * p <= 64):
        raise ValueError("unsupported scrypt parameters")
    key = scrypt(password.encode(), bytes.fromhex(kdf["salt"]), 32, N=n, r=r, p=p)  # type: ignore[arg-type]
    assert isinstance(key, bytes)  # one key requested, so never a tuple
    return key


class KeystoreKeyring:
    """Opens a keystore file with its password and hands out signers for the addresses it holds."""

    __slots__ = ("__key", "_doc", "_lock", "_path")

    def __init__(self, path: str | os.PathLike[str], password: str) -> None:
        """Open an existing keystore; ``WrongPassword`` if the password does not decrypt it."""
        self._path = Path(path)
        refuse_loose_permissions(self._path)
        try:
            doc = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeystoreError(f"keystore file {self._path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise KeystoreError(f"keystore file {self._path} is unreadable: {type(exc).__name__}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise KeystoreError(f"{self._path} is not a {FORMAT} v{VERSION} file")
        if not isinstance(doc.get("keys"), dict):
            raise KeystoreError(f"keystore file {self._path} has no key table")
        try:
            self.__key = _derive(password, doc["kdf"])
        except (KeyError, TypeError, ValueError):
            raise KeystoreError(f"keystore file {self._path} has bad scrypt parameters") from None
        try:
            ok = _open(self.__key, doc.get("check"), _CHECK_AD) == _CHECK_TEXT
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise WrongPassword(f"the password does not open keystore file {self._path}")
        self._doc: dict[str, Any] = doc
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], password: str, *, scrypt_n: int = DEFAULT_SCRYPT_N
    ) -> KeystoreKeyring:
        """Write a new, empty keystore (refuses to overwrite) and open it."""
        if not password:
            raise KeystoreError("a keystore needs a non-empty password")
        kdf = {"name": "scrypt", "salt": secrets.token_bytes(16).hex(), "n": scrypt_n, "r": 8, "p": 1}
        try:
            key = _derive(password, kdf)
        except ValueError:
            raise KeystoreError(f"scrypt n must be a power of two up to {MAX_SCRYPT_N}") from None
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "kdf": kdf,
            "check": _seal(key, _CHECK_TEXT, _CHECK_AD),
            "keys": {},
        }
        target = Path(path)
        if target.exists():
            raise KeystoreError(f"keystore file {target} already exists")
        _write(target, doc)
        return cls(target, password)

    @property
    def path(self) -> Path:
        return self._path

    def addresses(self) -> list[str]:
        """The addresses held, sorted."""
        return sorted(self._doc["keys"])

    def __contains__(self, address: object) -> bool:
        return address in self._doc["keys"]

    def __len__(self) -> int:
        return len(self._doc["keys"])

    def add(self, private_key: bytes) -> str:
        """Import a private key, save the file, and return its address (idempotent)."""
        if not is_private_key(private_key):
            raise KeystoreError("an imported private key must be 32 bytes in 1..n-1")
        address = address_of(private_key)
        with self._lock:
            if address not in self._doc["keys"]:
                doc = dict(self._doc, keys=dict(self._doc["keys"]))
                doc["keys"][address] = _seal(self.__key, private_key, address.encode())
                _write(self._path, doc)
                self._doc = doc
        return address

    def signer_for(self, address: str) -> LocalSigner:
        """A signer for a held address; ``UnknownKey`` if absent, ``KeystoreError`` if damaged."""
        sealed = self._doc["keys"].get(address)
        if sealed is None:
            raise UnknownKey(f"keystore {self._path} holds no key for {address}")
        try:
            signer = LocalSigner(_open(self.__key, sealed, address.encode()))
        except (KeyError, TypeError, ValueError):
            raise KeystoreError(f"keystore entry for {address} in {self._path} is damaged") from None
        if signer.address != address:
            raise KeystoreError(f"keystore entry for {address} in {self._path} holds another key")
        return signer

    def __repr__(self) -> str:
        return f"KeystoreKeyring(path={str(self._path)!r}, keys={len(self)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("keyrings hold secrets and cannot be pickled or copied")


def _write(path: Path, doc: dict[str, Any]) -> None:
    """Replace ``path`` atomically with an owner-only (0600) file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
