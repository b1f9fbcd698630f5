"""Signers: where private keys live, and the only code that touches them.

- ``MnemonicKeyring``: deposit addresses from a BIP39 phrase on m/44'/195'/0'/0/i (wallet-compatible).
- ``Web3Keyring``: imported keys (gas wallet, stake owner) in standard Web3 secret storage files.
- ``KeystoreKeyring``: deprecated, the project's own scrypt + AES-GCM multi-key file (still read).
- ``RemoteKeyring`` / ``RemoteSigner``: keys held by the signer service (``sweeper signer``), over an
  authenticated HTTP client of their own.
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
from sweeper.keys.remote import RemoteKeyring, RemoteSigner, SignerClient
from sweeper.keys.web3 import Web3Keyring

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
    "SignerClient",
    "SignerRejected",
    "SignerUnavailable",
    "UnknownKey",
    "Web3Keyring",
    "WrongPassword",
    "bip44_path",
]
