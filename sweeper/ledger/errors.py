"""Ledger failures; defined with the rest of the error tree in sweeper/errors.py."""

from sweeper.errors import AddressConflict, InvalidKeyReference, LedgerUnavailable

__all__ = ["AddressConflict", "InvalidKeyReference", "LedgerUnavailable"]
