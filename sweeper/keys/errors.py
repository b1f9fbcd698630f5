"""Errors of the key layer. Messages name addresses and files, never keys, mnemonics or passwords.

PermanentError
├── UnknownKey          no key for this address in the keyring
├── InvalidMnemonic     the phrase is not a valid BIP39 mnemonic
├── KeystoreError       the keystore file is missing, malformed or tampered with
│   └── WrongPassword   the keystore password does not open the file
└── SignerRejected      the remote signer refused, or answered with a bad signature
TransientError
└── SignerUnavailable   the remote signer cannot be reached or failed server-side
"""

from __future__ import annotations

from sweeper.errors import PermanentError, TransientError


class UnknownKey(PermanentError):
    """Raised when a keyring holds no key for the requested address."""

    reason = "unknown_key"


class InvalidMnemonic(PermanentError):
    """Raised when the configured phrase is not a valid BIP39 mnemonic (unknown word, bad checksum)."""

    reason = "invalid_mnemonic"


class KeystoreError(PermanentError):
    """Raised when the keystore file cannot be read, parsed or decrypted consistently."""

    reason = "keystore"


class WrongPassword(KeystoreError):
    """Raised when the keystore password does not decrypt the file."""

    reason = "keystore_wrong_password"


class SignerRejected(PermanentError):
    """Raised when the remote signer refuses to sign or returns a signature that is not the address's."""

    reason = "signer_rejected"


class SignerUnavailable(TransientError):
    """Raised when the remote signer cannot be reached, times out or fails server-side."""

    reason = "signer_unavailable"
