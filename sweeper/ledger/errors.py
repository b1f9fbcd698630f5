"""Ledger failures, as leaves of the project's error tree (see sweeper/errors.py)."""

from __future__ import annotations

from sweeper.errors import PermanentError, TransientError


class LedgerUnavailable(TransientError):
    """Raised when the database is unreachable, locked past the busy timeout, or aborts a transaction."""

    reason = "ledger_unavailable"


class AddressConflict(PermanentError):
    """Raised when an imported address is already watched under another key reference."""

    reason = "address_conflict"


class InvalidKeyReference(PermanentError):
    """Raised when a key reference is malformed or looks like key material itself."""

    reason = "invalid_key_reference"
