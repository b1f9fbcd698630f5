"""Signers: where private keys live, and the only code that touches them.

- ``MnemonicKeyring``: deposit addresses from a BIP39 phrase on m/44'/195'/0'/0/i (wallet-compatible).
- ``KeystoreKeyring``: imported keys (hot wallet, gas wallet, stake owner) in a scrypt + AES-GCM file.
- ``RemoteKeyring`` / ``RemoteSigner``: keys held by a signing service over HTTP.
- ``ChainedKeyring``: several of the above behind one ``Keyring``.

Secrets are passed in as strings by the delivery layer (this package reads no environment) and never
appear in ``repr``, errors or logs; signers show their address only.
"""

from sweeper.chain.port import Signer
from sweeper.keys.errors import (
    InvalidMnemonic,
    KeystoreError,
    SignerRejected,
    SignerUnavailable,
    UnknownKey,
    WrongPassword,
)
from sweeper.keys.hd import MnemonicKeyring, bip44_path
from sweeper.keys.keyring import ChainedKeyring, Keyring
from sweeper.keys.keystore import KeystoreKeyring
from sweeper.keys.local import LocalSigner
from sweeper.keys.remote import RemoteKeyring, RemoteSigner

__all__ = [
    "ChainedKeyring",
    "InvalidMnemonic",
    "Keyring",
    "KeystoreError",
    "KeystoreKeyring",
    "LocalSigner",
    "MnemonicKeyring",
    "RemoteKeyring",
    "RemoteSigner",
    "Signer",
    "SignerRejected",
    "SignerUnavailable",
    "UnknownKey",
    "WrongPassword",
    "bip44_path",
]
