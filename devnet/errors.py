"""The one exception the devnet chain raises: a java-tron `Return` code and its message text."""

from __future__ import annotations


class ChainError(Exception):
    """Raised when the chain refuses an operation, with java-tron's response code (e.g. SIGERROR)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def validate_error(detail: str) -> ChainError:
    """A CONTRACT_VALIDATE_ERROR worded like java-tron's actuators."""
    return ChainError("CONTRACT_VALIDATE_ERROR", f"Contract validate error : {detail}")


def signature_error(detail: str) -> ChainError:
    """A SIGERROR worded like java-tron's TransactionCapsule."""
    return ChainError("SIGERROR", f"Validate signature error: {detail}")


def bandwidth_error() -> ChainError:
    """java-tron's BANDWITH_ERROR (sic): neither stake, free allowance nor TRX can pay the bytes."""
    return ChainError("BANDWITH_ERROR", "Account resource insufficient error.")
