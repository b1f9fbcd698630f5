"""The project's one error tree.

Every upstream exception (tronpy, httpx, SQLAlchemy, provider answers) is mapped at the boundary into
one of these, so callers decide by class alone: retry a ``TransientError``, fail a ``PermanentError``.

    SweeperError
    ├── TransientError                      retry later with backoff
    │   ├── ChainUnavailable                node unreachable, timeout, 5xx, busy
    │   ├── ProviderUnavailable             provider unreachable, timeout, 5xx, 429, "service unavailable"
    │   ├── ProviderOutOfResources          provider has no energy to delegate right now
    │   └── LockBusy                        another worker holds the address lock
    └── PermanentError                      stop, record the reason, alert
        ├── ConfigError                     invalid configuration (one message per problem)
        ├── InvalidAddress                  not a valid TRON base58check address
        ├── ChainRejected                   the node refused a transaction (validation, signature, tapos …)
        │   ├── AccountNotActivated         the owner account does not exist on chain
        │   ├── BadTransactionSignature     the signature does not match the owner's permission
        │   ├── TransactionExpired          expiration passed before the node accepted it
        │   └── DuplicateTransaction        the node already has this txid (safe to treat as sent)
        ├── ProviderError                   a provider refused the request
        │   ├── ProviderAuthError           bad API key, signature, IP not allowed
        │   ├── ProviderInsufficientBalance our account at the provider cannot pay
        │   ├── ProviderInvalidRequest      bad parameters, period, amount
        │   ├── DuplicateOrderNumber        our order number was used before: look the order up
        │   └── OrderNotFound               the provider has no such order
        ├── CallbackRejected                forged, tampered, replayed or malformed callback
        ├── PolicyRefused                   no energy source fits the caps
        └── StateConflict                   a compare-and-set transition lost the race
"""

from __future__ import annotations


class SweeperError(Exception):
    """Raised for every failure the project knows how to name; ``reason`` is a short stable slug."""

    reason: str = "error"

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class TransientError(SweeperError):
    """Raised when trying again later may succeed."""

    reason = "transient"


class PermanentError(SweeperError):
    """Raised when trying again will not help without a change somewhere."""

    reason = "permanent"


class ChainUnavailable(TransientError):
    """Raised when the TRON node cannot be reached or answers with a server-side failure."""

    reason = "chain_unavailable"


class ProviderUnavailable(TransientError):
    """Raised when an energy provider cannot be reached, times out, rate-limits or fails server-side."""

    reason = "provider_unavailable"


class ProviderOutOfResources(TransientError):
    """Raised when a provider has not enough energy on its platform to fill the order."""

    reason = "provider_out_of_resources"


class LockBusy(TransientError):
    """Raised when another worker holds the per-address lock."""

    reason = "lock_busy"


class ConfigError(PermanentError):
    """Raised when the configuration is invalid; ``problems`` holds one message per problem."""

    reason = "config"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class InvalidAddress(PermanentError):
    """Raised when a string is not a valid TRON address."""

    reason = "invalid_address"


class ChainRejected(PermanentError):
    """Raised when the node refuses a transaction or query."""

    reason = "chain_rejected"


class AccountNotActivated(ChainRejected):
    """Raised when the account does not exist on chain (never received TRX)."""

    reason = "not_activated"


class BadTransactionSignature(ChainRejected):
    """Raised when the node rejects the signature."""

    reason = "bad_signature"


class TransactionExpired(ChainRejected):
    """Raised when a transaction's expiration has passed."""

    reason = "expired"


class DuplicateTransaction(ChainRejected):
    """Raised when the node already knows this transaction."""

    reason = "duplicate_transaction"


class ProviderError(PermanentError):
    """Raised when an energy provider refuses a request."""

    reason = "provider_error"


class ProviderAuthError(ProviderError):
    """Raised when a provider rejects our credentials, signature or IP."""

    reason = "provider_auth"


class ProviderInsufficientBalance(ProviderError):
    """Raised when our account at the provider cannot pay for the order."""

    reason = "provider_insufficient_balance"


class ProviderInvalidRequest(ProviderError):
    """Raised when a provider rejects the request's parameters."""

    reason = "provider_invalid_request"


class DuplicateOrderNumber(ProviderError):
    """Raised when our order number was already used: the order must be looked up, never placed again."""

    reason = "duplicate_order_number"


class OrderNotFound(ProviderError):
    """Raised when a provider has no order under the given number."""

    reason = "order_not_found"


class CallbackRejected(PermanentError):
    """Raised when a provider callback is forged, tampered, replayed, unknown or malformed."""

    reason = "callback_rejected"


class PolicyRefused(PermanentError):
    """Raised when no energy source fits within the caps; ``reason`` says why."""

    reason = "policy_refused"


class StateConflict(PermanentError):
    """Raised when a compare-and-set transition finds the row in another state."""

    reason = "state_conflict"
