"""The signing policy: the only transactions any key of ours may sign, judged from the raw data alone.

Used by the signer service (``sweeper signer``) and by local signing in the embedded demo alike, so one
rule set decides everywhere. The caller's intent is checked against what the raw data says, never
trusted: the txid signed is recomputed here from ``raw_data`` (``sweeper/chain/txid.py``), and raw data
holding any field the encoder would not hash is refused, so the signature covers exactly what was read.

Allowed, and nothing else (docs/SECURITY.md §3):

- ``TriggerSmartContract`` ``transfer(to, amount)`` on a configured token, from a watched deposit
  address, to that token's configured destination, no TRX or TRC10 attached;
- ``TransferContract`` TRX from a watched deposit address to the TRX destination (leftover sweep), or
  from the gas wallet to a watched address, at most the burn cap;
- ``DelegateResourceContract`` (unlocked) / ``UnDelegateResourceContract`` from the stake owner to a
  watched address;
- every one with ``fee_limit`` within ``SWEEPER_ENERGY__MAX_FEE_LIMIT_SUN``, built now (timestamp within
  the clock skew) and expiring within a short window, and within the per-address rate limit.

Every refusal is a ``SigningRefused`` with a stable slug, counted in ``refusals`` and logged as one loud
``security.signing_refused`` line (addresses and the slug; never keys).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from sweeper.chain import txid as local_txid
from sweeper.chain.addresses import to_base58
from sweeper.chain.intent import TRX_ASSET, Intent
from sweeper.errors import InvalidAddress, SigningRefused, SigningThrottled

log = structlog.get_logger("sweeper.custody")

TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)
_RAW_KEYS = frozenset(
    {"ref_block_bytes", "ref_block_hash", "expiration", "timestamp", "fee_limit", "contract"}
)
_CONTRACT_KEYS = frozenset({"type", "parameter", "Permission_id"})
_VALUE_KEYS = {
    "TriggerSmartContract": frozenset(
        {"owner_address", "contract_address", "call_value", "data", "call_token_value", "token_id"}
    ),
    "TransferContract": frozenset({"owner_address", "to_address", "amount"}),
    "DelegateResourceContract": frozenset(
        {"owner_address", "resource", "balance", "receiver_address", "lock", "lock_period"}
    ),
    "UnDelegateResourceContract": frozenset({"owner_address", "resource", "balance", "receiver_address"}),
}
_RESOURCES = frozenset({"ENERGY", "BANDWIDTH"})
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """What the policy allows, from the deployment's settings (built in ``tasks/custody.py``)."""

    destinations: Mapping[str, str]
    """Token contract → its configured destination (``Settings.destinations()``)."""
    trx_destination: str | None
    """Where leftover TRX goes (the first token's destination, as ``AssetBook`` sweeps it)."""
    gas_wallet: str | None
    burn_cap_sun: int
    """The most TRX one gas-wallet transfer may send (``SWEEPER_ENERGY__BURN__MAX_SUN_PER_SWEEP``)."""
    stake_owner: str | None
    max_fee_limit_sun: int
    """``SWEEPER_ENERGY__MAX_FEE_LIMIT_SUN``: the ceiling of any transaction's ``fee_limit``."""
    max_expiration_ms: int = 120_000
    """``expiration − timestamp`` at most this (the adapter builds 60 s)."""
    max_clock_skew_ms: int = 300_000
    """``timestamp`` (the chain time it was built at) within this of the judge's clock."""
    rate_limit: int = 60
    """Signatures that touch one watched address per ``rate_window_s``; 0: no limit."""
    rate_window_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """An allowed transaction: its txid (recomputed here), what it is, and the watched address it touches."""

    txid: str
    kind: str
    owner: str
    to: str
    asset: str
    amount: int
    watched: str


@dataclass
class SigningPolicy:
    """Judges unsigned transactions; thread-safe. ``is_watched`` asks the ledger's watch list."""

    config: PolicyConfig
    is_watched: Callable[[str], bool]
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    refusals: Counter[str] = field(default_factory=Counter)
    monotonic: Callable[[], float] = time.monotonic
    _recent: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per watched address, when it was signed for within the rate window, oldest first. The dict is kept
    in order of each address's latest signature, so the addresses idle for a whole window are at its
    front and are dropped as they age out: memory follows the addresses of the last window, not every
    address ever signed for (a ``deque`` each, 900 bytes, grew a worker by 9 MB per 10,000 sweeps)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def own_wallets(self) -> frozenset[str]:
        c = self.config
        wallets = {*c.destinations.values(), c.trx_destination, c.gas_wallet, c.stake_owner}
        return frozenset(w for w in wallets if w)

    def check(
        self, signer: str, raw_data: Mapping[str, Any], intent: Intent, *, now_ms: int | None = None
    ) -> Verdict:
        """The verdict for ``signer`` signing ``raw_data``; ``SigningRefused`` (logged, counted) otherwise.

        ``now_ms`` is the clock the expiry is judged by: the signer's own, or in local signing the head
        block's time the adapter built at.
        """
        try:
            verdict = self._judge(signer, raw_data, intent, self.clock_ms() if now_ms is None else now_ms)
            self._admit(verdict.watched)
        except (SigningRefused, SigningThrottled) as exc:
            self.refused(exc.reason, str(exc), signer=signer, sweep_id=intent.sweep_id)
            raise
        log.info(
            "signer.signed",
            txid=verdict.txid,
            kind=verdict.kind,
            owner=verdict.owner,
            to=verdict.to,
            asset=verdict.asset,
            amount=str(verdict.amount),
            sweep_id=intent.sweep_id,
        )
        return verdict

    def refused(self, reason: str, detail: str, **fields: Any) -> None:
        """Count and log one security event (also used by the service for refused requests)."""
        with self._lock:
            self.refusals[reason] += 1
        log.error(
            "security.signing_refused",
            reason=reason,
            detail=f"SECURITY: signing refused ({reason}): {detail}",
            **fields,
        )

    # -- the rules ----------------------------------------------------------------------------------

    def _judge(self, signer: str, raw: Mapping[str, Any], intent: Intent, now_ms: int) -> Verdict:
        contract = _shape(raw)
        kind = contract["type"]
        value: Mapping[str, Any] = contract["parameter"]["value"]
        owner = _address(value.get("owner_address"), "owner_address")
        if owner != signer:
            raise SigningRefused(f"the transaction's owner {owner} is not {signer}", reason="wrong_owner")
        self._times(raw, now_ms)
        fee_limit = _uint(raw.get("fee_limit", 0), "fee_limit")
        if fee_limit > self.config.max_fee_limit_sun:
            raise SigningRefused(
                f"fee_limit {fee_limit} sun is above the ceiling {self.config.max_fee_limit_sun} "
                "(SWEEPER_ENERGY__MAX_FEE_LIMIT_SUN)",
                reason="fee_limit",
            )
        if kind == "TriggerSmartContract":
            verdict = self._token_transfer(owner, value, fee_limit)
        elif kind == "TransferContract":
            verdict = self._trx_transfer(owner, value)
        else:
            verdict = self._delegation(owner, value, undo=kind == "UnDelegateResourceContract")
        expected = (verdict.kind, verdict.asset, verdict.amount, verdict.to)
        if (intent.kind, intent.asset, intent.amount, intent.to) != expected:
            raise SigningRefused(
                f"the intent ({intent.kind} {intent.amount} {intent.asset} to {intent.to}) is not what the "
                f"transaction does ({verdict.kind} {verdict.amount} {verdict.asset} to {verdict.to})",
                reason="intent_mismatch",
            )
        try:
            txid = local_txid.txid(raw)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SigningRefused("the raw data cannot be encoded", reason="malformed") from None
        return Verdict(txid, verdict.kind, owner, verdict.to, verdict.asset, verdict.amount, verdict.watched)

    def _times(self, raw: Mapping[str, Any], now_ms: int) -> None:
        c = self.config
        expiration = _uint(raw.get("expiration"), "expiration")
        timestamp = _uint(raw.get("timestamp"), "timestamp")
        if abs(timestamp - now_ms) > c.max_clock_skew_ms:
            raise SigningRefused(
                f"built at {timestamp} ms, {abs(timestamp - now_ms)} ms from now "
                f"(at most {c.max_clock_skew_ms})",
                reason="timestamp",
            )
        if not 0 < expiration - timestamp <= c.max_expiration_ms or expiration <= now_ms:
            raise SigningRefused(
                f"expiration {expiration} ms is not within {c.max_expiration_ms} ms after its timestamp "
                f"{timestamp} and after now",
                reason="expiration",
            )

    def _watched_deposit(self, address: str) -> bool:
        return address not in self.own_wallets() and self.is_watched(address)

    def _token_transfer(self, owner: str, value: Mapping[str, Any], fee_limit: int) -> Verdict:
        contract = _address(value.get("contract_address"), "contract_address")
        destination = self.config.destinations.get(contract)
        if destination is None:
            raise SigningRefused(f"{contract} is not a configured token", reason="token")
        for name in ("call_value", "call_token_value", "token_id"):
            if _uint(value.get(name, 0), name):
                raise SigningRefused(f"a token transfer may not carry {name}", reason="call_value")
        data = value.get("data")
        if (
            not isinstance(data, str)
            or len(data) != 8 + 128
            or not set(data) <= _HEX
            or data[:8].lower() != TRANSFER_SELECTOR
        ):
            raise SigningRefused("the call is not transfer(address,uint256)", reason="not_transfer")
        word, amount_word = data[8:72], data[72:]
        if word[:24].strip("0"):
            raise SigningRefused("the recipient word is not an address", reason="not_transfer")
        to = _address("41" + word[24:], "recipient")
        amount = _hex_uint(amount_word)
        if to != destination:
            raise SigningRefused(
                f"a transfer of {contract} to {to}: only its destination {destination} is allowed",
                reason="destination",
            )
        if amount <= 0:
            raise SigningRefused("a transfer of nothing", reason="amount")
        if fee_limit <= 0:
            raise SigningRefused("a token transfer needs a fee_limit", reason="fee_limit")
        if not self._watched_deposit(owner):
            raise SigningRefused(f"{owner} is not a watched deposit address", reason="not_watched")
        return Verdict("", "trc20_transfer", owner, to, contract, amount, owner)

    def _trx_transfer(self, owner: str, value: Mapping[str, Any]) -> Verdict:
        c = self.config
        to = _address(value.get("to_address"), "to_address")
        amount = _uint(value.get("amount"), "amount")
        if amount <= 0:
            raise SigningRefused("a transfer of nothing", reason="amount")
        if c.gas_wallet is not None and owner == c.gas_wallet:
            if not self._watched_deposit(to):
                raise SigningRefused(
                    f"the gas wallet may only pay watched addresses, not {to}", reason="destination"
                )
            if amount > c.burn_cap_sun:
                raise SigningRefused(
                    f"the gas wallet would send {amount} sun, above the burn cap {c.burn_cap_sun}",
                    reason="burn_cap",
                )
            return Verdict("", "trx_transfer", owner, to, TRX_ASSET, amount, to)
        if not self._watched_deposit(owner):
            raise SigningRefused(f"{owner} may not send TRX", reason="not_watched")
        if to != c.trx_destination:
            raise SigningRefused(
                f"leftover TRX to {to}: only {c.trx_destination} is allowed", reason="destination"
            )
        return Verdict("", "trx_transfer", owner, to, TRX_ASSET, amount, owner)

    def _delegation(self, owner: str, value: Mapping[str, Any], *, undo: bool) -> Verdict:
        c = self.config
        if c.stake_owner is None or owner != c.stake_owner:
            raise SigningRefused(f"{owner} is not the stake owner", reason="not_stake_owner")
        receiver = _address(value.get("receiver_address"), "receiver_address")
        if value.get("resource", "BANDWIDTH") not in _RESOURCES:
            raise SigningRefused("only energy and bandwidth are delegated", reason="resource")
        if not undo and (value.get("lock") or value.get("lock_period")):
            raise SigningRefused("a delegation may not be locked", reason="locked")
        balance = _uint(value.get("balance"), "balance")
        if balance <= 0:
            raise SigningRefused("a delegation of nothing", reason="amount")
        if not self._watched_deposit(receiver):
            raise SigningRefused(f"{receiver} is not a watched deposit address", reason="destination")
        kind = "undelegate" if undo else "delegate"
        return Verdict("", kind, owner, receiver, TRX_ASSET, balance, receiver)

    def _admit(self, address: str) -> None:
        c = self.config
        if not c.rate_limit:
            return
        now = self.monotonic()
        since = now - c.rate_window_s
        with self._lock:
            recent = tuple(t for t in self._recent.pop(address, ()) if t > since)
            if len(recent) >= c.rate_limit:
                self._recent[address] = recent
                raise SigningThrottled(
                    f"{address} was signed for {len(recent)} times in {c.rate_window_s:.0f} s "
                    f"(at most {c.rate_limit})"
                )
            self._recent[address] = (*recent, now)  # re-inserted: the newest at the end
            for oldest in list(itertools.islice(self._recent, 8)):
                if self._recent[oldest][-1] > since:
                    break
                del self._recent[oldest]

    def tracked_addresses(self) -> int:
        """How many addresses the rate limit remembers now (those signed for within its window)."""
        with self._lock:
            return len(self._recent)


def _shape(raw: Any) -> Mapping[str, Any]:
    """The one contract of ``raw``; refuses any field the txid encoder would not hash."""
    if not isinstance(raw, Mapping):
        raise SigningRefused("raw_data is not an object", reason="malformed")
    extra = set(raw) - _RAW_KEYS
    if extra:
        raise SigningRefused(f"raw_data carries {sorted(extra)}", reason="malformed")
    contracts = raw.get("contract")
    if not isinstance(contracts, list) or len(contracts) != 1 or not isinstance(contracts[0], Mapping):
        raise SigningRefused("a transaction holds exactly one contract", reason="malformed")
    contract = contracts[0]
    kind = contract.get("type")
    if kind not in _VALUE_KEYS:
        raise SigningRefused(f"{kind!s:.40} transactions are never signed", reason="contract_type")
    if set(contract) - _CONTRACT_KEYS or contract.get("Permission_id", 0) != 0:
        raise SigningRefused(
            "only the owner permission signs, with no other contract field", reason="malformed"
        )
    parameter = contract.get("parameter")
    if (
        not isinstance(parameter, Mapping)
        or set(parameter) != {"value", "type_url"}
        or parameter["type_url"] != f"type.googleapis.com/protocol.{kind}"
        or not isinstance(parameter["value"], Mapping)
        or set(parameter["value"]) - _VALUE_KEYS[kind]
    ):
        raise SigningRefused(f"the {kind} parameter is malformed", reason="malformed")
    for name in ("ref_block_bytes", "ref_block_hash"):
        if not isinstance(raw.get(name), str):
            raise SigningRefused(f"raw_data lacks {name}", reason="malformed")
    return contract


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise SigningRefused(f"{name} is missing", reason="malformed")
    try:
        return to_base58(value)
    except InvalidAddress:
        raise SigningRefused(f"{name} is not an address", reason="malformed") from None


def _uint(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise SigningRefused(f"{name} is not a non-negative int64", reason="malformed")
    return int(value)


def _hex_uint(word: str) -> int:
    return int(word, 16)  # checked to be hex digits only
