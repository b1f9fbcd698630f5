"""The TRON chain adapter: the ``Chain`` port and its tronpy implementation."""

from sweeper.chain.port import Chain, Signer, TokenTransfer
from sweeper.chain.tron import TronChain

__all__ = ["Chain", "Signer", "TokenTransfer", "TronChain"]
