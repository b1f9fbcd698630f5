"""The project's one error tree.

Every upstream exception (tronpy, httpx, SQLAlchemy, provider answers) is mapped at the boundary into
one of these, so callers decide by class alone: retry a ``TransientError``, fail a ``PermanentError``.
What is an *outcome* rather than a failure is a return value, never an exception: a broadcast the node
already holds (``BroadcastOutcome.ALREADY_KNOWN``), one that expired (``EXPIRED``), an order whose fate
cannot be known (``OrderStatus.UNKNOWN``), no energy source fitting (procurement's ``Exhausted``).

    SweeperError
    ├── TransientError                      retry later with backoff (not before ``retry_after``)
    │   ├── ChainUnavailable                node unreachable, timeout, any HTTP error status (rate
    │   │                                   limits 403/429/503 included), ``{"Error"}`` bodies, busy
    │   ├── ProviderUnavailable             provider unreachable, timeout, 5xx, 429, "service unavailable"
    │   │   └── ResponseLost                an order request may have arrived; no answer came back
    │   ├── ProviderOutOfResources          provider has no energy to delegate right now
    │   ├── LedgerUnavailable               database unreachable, locked, or aborted the transaction
    │   ├── JournalConflict                 a different signed transaction is stored under this key
    │   ├── SignerUnavailable               the remote signer cannot be reached
    │   │   └── SigningThrottled            the signer's per-address rate limit holds this address now
    │   └── LockBusy                        another worker holds the address lock
    └── PermanentError                      stop, record the reason, alert
        ├── ConfigError                     invalid configuration (one message per problem)
        ├── InvalidAddress                  not a valid TRON base58check address
        ├── ChainRejected                   the node refused a transaction (validation, signature, tapos …)
        │   ├── AccountNotActivated         an owner or receiver account does not exist on chain
        │   └── BadTransactionSignature     the signature does not match the owner's permission
        ├── ProviderError                   a provider refused the request
        │   ├── ProviderAuthError           bad API key, signature, IP not allowed
        │   ├── ProviderInsufficientBalance our account at the provider cannot pay
        │   ├── ProviderInvalidRequest      bad parameters, period, amount
        │   ├── DuplicateOrderNumber        never leaves a client's ``order``: resolved by looking it up
        │   │   └── ForeignOrderNumber      our number names an order that is not this step's: use a new one
        │   ├── LookupUnsupported           the provider cannot find orders by our number (here, now)
        │   └── OrderNotFound               the provider has no such order
        ├── PolicyRefused                   a fee cap refuses the spend
        │   └── NoSourceFits                every energy source was excluded (``exclusions`` says why)
        ├── CallbackRejected                forged, tampered, replayed or malformed callback
        ├── SweepFailed                     a task moved a sweep to FAILED (the reason is the sweep's)
        ├── StateConflict                   a compare-and-set transition lost the race
        ├── UnknownSweep                    no sweep with this id
        ├── AmountOutOfRange                a balance larger than the ledger can record
        ├── AddressConflict                 an address is already watched under another key reference
        ├── InvalidKeyReference             a key reference is malformed or looks like key material
        ├── UnknownKey                      no key for this address in the keyring
        ├── InvalidMnemonic                 the phrase is not a valid BIP39 mnemonic
        ├── KeystoreError                   the keystore file is missing, malformed or tampered with
        │   └── WrongPassword               the keystore password does not open the file
        └── SignerRejected                  the remote signer refused, or answered with a bad signature
            └── SigningRefused              the signing policy refuses this transaction (``reason`` says why)

Messages name addresses, files and orders, never keys, mnemonics, passwords or API secrets.
"""

from __future__ import annotations

from collections.abc import Mapping


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
    """Raised when trying again later may succeed; ``retry_after`` (seconds) is the earliest sensible try.

    A node or provider that names a wait (HTTP ``Retry-After``) sets it; callers back off at least that long.
    """

    reason = "transient"
    retry_after: float | None = None

    def __init__(
        self, message: str = "", *, reason: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        if retry_after is not None:
            self.retry_after = max(0.0, float(retry_after))


class PermanentError(SweeperError):
    """Raised when trying again will not help without a change somewhere."""

    reason = "permanent"


# -- transient -------------------------------------------------------------------------------------


class ChainUnavailable(TransientError):
    """Raised when the TRON node cannot be reached, rate-limits us, or answers anything but an answer.

    A read that fails is never a verdict on a sweep: only a broadcast's code or a receipt is.
    """

    reason = "chain_unavailable"


class ProviderUnavailable(TransientError):
    """Raised when an energy provider cannot be reached, times out, rate-limits or fails server-side."""

    reason = "provider_unavailable"


class ResponseLost(ProviderUnavailable):
    """Raised when a request may have reached the provider but no usable answer came back."""

    reason = "provider_response_lost"


class ProviderOutOfResources(TransientError):
    """Raised when a provider has not enough energy on its platform to fill the order."""

    reason = "provider_out_of_resources"


class LedgerUnavailable(TransientError):
    """Raised when the database is unreachable, locked past the busy timeout, or aborts a transaction."""

    reason = "ledger_unavailable"


class JournalConflict(TransientError):
    """Raised when a different, still valid transaction is already stored under a journal key."""

    reason = "journal_conflict"


class SignerUnavailable(TransientError):
    """Raised when the remote signer cannot be reached, times out or fails server-side."""

    reason = "signer_unavailable"


class SigningThrottled(SignerUnavailable):
    """Raised when the signer's per-address rate limit refuses a signature for now."""

    reason = "signing_throttled"


class LockBusy(TransientError):
    """Raised when another worker holds the per-address lock."""

    reason = "lock_busy"


# -- permanent -------------------------------------------------------------------------------------


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
    """Raised when an account a request needs (a transaction's owner, an order's receiver) is not on chain.

    The chain's own answer, or a provider's report of it: one class for both.
    """

    reason = "not_activated"


class BadTransactionSignature(ChainRejected):
    """Raised when the node rejects the signature."""

    reason = "bad_signature"


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
    """Raised inside a client when our order number was used before; ``order`` resolves it by lookup."""

    reason = "duplicate_order_number"


class ForeignOrderNumber(DuplicateOrderNumber):
    """Raised when our number names an order whose address, energy or time is not this sweep step's.

    Another deployment on the same account, or a restored ledger, used the number first. Nothing was
    ordered under it by us: the step records the collision and orders again under a fresh number.
    """

    reason = "foreign_order_number"


class LookupUnsupported(ProviderError):
    """Raised when the provider cannot look an order up by our number (an older itrx deployment)."""

    reason = "lookup_unsupported"


class OrderNotFound(ProviderError):
    """Raised when a provider has no order under the given number."""

    reason = "order_not_found"


class PolicyRefused(PermanentError):
    """Raised when a fee cap refuses a spend; ``reason`` says which cap."""

    reason = "policy_refused"


class NoSourceFits(PolicyRefused):
    """Raised when every energy source was excluded; ``exclusions`` says why, per source."""

    reason = "no_source_fits"

    def __init__(self, exclusions: Mapping[str, str]) -> None:
        self.exclusions = dict(exclusions)
        detail = (
            "; ".join(f"{name}: {why}" for name, why in self.exclusions.items()) or "no source configured"
        )
        super().__init__(f"no energy source fits: {detail}")


class CallbackRejected(PermanentError):
    """Raised when a provider callback is forged, tampered, replayed, unknown or malformed."""

    reason = "callback_rejected"


class SweepFailed(PermanentError):
    """Raised by a task that moved a sweep to FAILED, so task monitors (Flower) show a failure.

    The sweep's own reason is the ``reason``; the ledger already holds the outcome, nothing is retried.
    """

    reason = "sweep_failed"


class StateConflict(PermanentError):
    """Raised when a compare-and-set transition finds the row in another state."""

    reason = "state_conflict"


class UnknownSweep(PermanentError):
    """Raised when a sweep id is not in the ledger."""

    reason = "unknown_sweep"


class AmountOutOfRange(PermanentError):
    """Raised when a balance is larger than a ledger row can hold: refused, never truncated."""

    reason = "amount_out_of_range"


class AddressConflict(PermanentError):
    """Raised when an imported address is already watched under another key reference."""

    reason = "address_conflict"


class InvalidKeyReference(PermanentError):
    """Raised when a key reference is malformed or looks like key material itself."""

    reason = "invalid_key_reference"


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


class SigningRefused(SignerRejected):
    """Raised when the signing policy refuses a transaction; ``reason`` is the policy's slug."""

    reason = "signing_refused"
