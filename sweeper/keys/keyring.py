"""The ``Keyring`` seam: whoever holds keys hands out signers by address, never the keys themselves."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sweeper.chain.port import Signer
from sweeper.keys.errors import UnknownKey


@runtime_checkable
class Keyring(Protocol):
    """Hands out a ``Signer`` for an address it holds; raises ``UnknownKey`` otherwise."""

    def signer_for(self, address: str) -> Signer: ...


class ChainedKeyring:
    """Asks each keyring in turn, e.g. deposit addresses from the mnemonic, wallets from the keystore."""

    def __init__(self, *keyrings: Keyring) -> None:
        self._keyrings = keyrings

    def signer_for(self, address: str) -> Signer:
        for keyring in self._keyrings:
            try:
                return keyring.signer_for(address)
            except UnknownKey:
                continue
        raise UnknownKey(f"no keyring holds a key for {address}")

    def __repr__(self) -> str:
        return f"ChainedKeyring({', '.join(repr(k) for k in self._keyrings)})"
