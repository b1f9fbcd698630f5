"""Errors of the key layer; defined with the rest of the error tree in sweeper/errors.py.

Messages name addresses and files, never keys, mnemonics or passwords.
"""

from sweeper.errors import (
    InvalidMnemonic,
    KeystoreError,
    SignerRejected,
    SignerUnavailable,
    UnknownKey,
    WrongPassword,
)

__all__ = [
    "InvalidMnemonic",
    "KeystoreError",
    "SignerRejected",
    "SignerUnavailable",
    "UnknownKey",
    "WrongPassword",
]
