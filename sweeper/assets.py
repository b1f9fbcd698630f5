"""What is swept: a TRC20 token or native TRX, behind one protocol, keyed by contract address.

The state machine asks the asset for everything that differs between the two — the balance, whether the
address can ever send it, what one transfer needs, how to build it — so it never branches on a token.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol

from sweeper.chain import size
from sweeper.chain.logs import transfer_logged
from sweeper.errors import PolicyRefused
from sweeper.models import UINT256_MAX, ChainParameters, Receipt, ResourceNeed, Resources, SignedTx, Token

if TYPE_CHECKING:
    from sweeper.chain.port import Chain, Signer

TRX = "TRX"
"""The key (``token_contract``) of native TRX: it has no contract."""
FEE_LIMIT_HEADROOM = Decimal("1.2")
"""A token transfer's ``fee_limit`` covers its whole energy at the chain's price, plus this headroom."""
NEVER = UINT256_MAX + 1
"""The minimum of an asset that is not swept: no balance reaches it."""


@dataclass(frozen=True, slots=True)
class EnergyPolicy:
    """How a measured transfer becomes an order, and the limits no measurement may pass (settings)."""

    margin: int = 0
    """Energy added to every measured transfer (``SWEEPER_ENERGY__MARGIN``)."""
    margin_percent: Decimal = Decimal(0)
    """Percent added on top of the measured figure (``SWEEPER_ENERGY__MARGIN_PERCENT``)."""
    ceiling: int = 300_000
    """A measured transfer above this is refused, never ordered
    (``SWEEPER_ENERGY__MAX_ENERGY_PER_TRANSFER``)."""
    max_fee_limit_sun: int = 50_000_000
    """The largest ``fee_limit`` a transfer is signed with (``SWEEPER_ENERGY__MAX_FEE_LIMIT_SUN``)."""
    cache_seconds: float = 30.0
    """How long one measurement serves other transfers of the token to the same kind of recipient."""

    def with_margin(self, measured: int) -> int:
        extra = Fraction(Decimal(measured) * self.margin_percent) / 100
        return measured + math.ceil(extra) + max(0, self.margin)


HOLDS_SECONDS = 3.0
"""How long whether a destination holds the token serves cached measurements: one block."""


@dataclass
class EnergyMeter:
    """Asks the chain what a transfer costs; one answer serves briefly per (token, recipient holds).

    What a TRC20 transfer costs depends on the token, its current ``energy_factor`` and whether the
    recipient's balance slot is new, not on the sender or the amount, so a short cache keyed by the two
    is exact between maintenance periods; a fresh reading is taken before each transfer is signed.
    """

    policy: EnergyPolicy = field(default_factory=EnergyPolicy)
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, bool], tuple[float, int]] = field(default_factory=dict)
    _holds: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def measure(self, chain: Chain, contract: str, owner: str, to: str, amount: int, *, fresh: bool) -> int:
        """A fresh reading measures the transfer and replaces the cached figure (what a later delivery
        check compares the address's energy with: a stale one would call a top-up delivered before it
        arrived and order it again); a cached one costs no request while both the figure and whether the
        recipient holds the token are recent."""
        now = self.clock()
        key = (contract, self._recipient_holds(chain, contract, to, now))
        if not fresh:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.policy.cache_seconds:
                return hit[1]
        measured = self._checked(contract, chain.measure_transfer_energy(contract, owner, to, amount))
        with self._lock:
            self._cache[key] = (now, measured)
        return measured

    def _recipient_holds(self, chain: Chain, contract: str, to: str, now: float) -> bool:
        """Whether ``to`` holds the token, read at most once per ``HOLDS_SECONDS``: it flips only when the
        destination's balance crosses zero (its first deposit, or emptied to cold storage), and a guess
        that is that stale is caught by the fresh reading before signing (a top-up, never a short send)."""
        ttl = min(self.policy.cache_seconds, HOLDS_SECONDS)
        with self._lock:
            seen = self._holds.get((contract, to))
        if seen is not None and now - seen[0] < ttl:
            return seen[1]
        holds = chain.token_balance(contract, to) > 0
        with self._lock:
            self._holds[(contract, to)] = (now, holds)
        return holds

    def _checked(self, contract: str, measured: int) -> int:
        if measured > self.policy.ceiling:
            raise PolicyRefused(
                f"the chain measures {measured} energy for one transfer of {contract}, above the ceiling of "
                f"{self.policy.ceiling} (SWEEPER_ENERGY__MAX_ENERGY_PER_TRANSFER)",
                reason="energy_ceiling",
            )
        return measured

    def fee_limit(self, energy: int, params: ChainParameters) -> int:
        """``fee_limit`` for a transfer using ``energy``: it caps delegated energy too, so it must cover all
        of it; with headroom, within the configured and the chain's ceilings."""
        floor = energy * params.energy_fee
        cap = self.policy.max_fee_limit_sun
        if params.max_fee_limit is not None:
            cap = min(cap, params.max_fee_limit)
        if floor > cap:
            raise PolicyRefused(
                f"a transfer using {energy} energy needs a fee_limit of {floor} sun, above the cap of "
                f"{cap} sun (SWEEPER_ENERGY__MAX_FEE_LIMIT_SUN or the chain's getMaxFeeLimit)",
                reason="fee_limit_cap",
            )
        return max(1, min(cap, math.ceil(floor * FEE_LIMIT_HEADROOM)))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an address's balance cannot or should not be sent: a stable slug and a sentence."""

    slug: str
    why: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """A signed transfer of ``amount`` to the asset's destination, ready to be stored and broadcast."""

    tx: SignedTx
    amount: int


class Asset(Protocol):
    """One kind of balance a deposit address can hold, with its configured minimum and destination."""

    @property
    def token(self) -> Token:
        """Symbol, contract key, decimals and minimum, as the ledger records them."""
        ...

    @property
    def destination(self) -> str:
        """The configured wallet this asset goes to; nothing else can change it."""
        ...

    @property
    def trx_per_token(self) -> Decimal | None:
        """The operator's price of one whole unit in TRX, for the percent-of-amount fee cap."""
        ...

    @property
    def unit(self) -> str:
        """How base units are named in messages."""
        ...

    def balance(self, chain: Chain, address: str) -> int: ...

    def refusal(self, chain: Chain, address: str) -> Refusal | None:
        """A reason this address can never send the asset (a blacklist), or None."""
        ...

    def need(
        self, chain: Chain, address: str, amount: int, *, fresh: bool = False, have: Resources | None = None
    ) -> ResourceNeed:
        """What one transfer of ``amount`` from ``address`` needs beyond what it has now.

        ``fresh`` asks the chain again rather than use a recent measurement (just before signing).
        ``have`` is the activated address's resources, read by the caller in this very step: passed, they
        are not read a second time (one ``getaccount`` and one ``getaccountresource`` fewer per poll).
        """
        ...

    def build_transfer(
        self, chain: Chain, signer: Signer, amount: int, *, energy_needed: int | None
    ) -> Transfer | Refusal:
        """Sign the transfer of ``amount`` from the signer's address to the destination."""
        ...

    def proves(self, receipt: Receipt, address: str, amount: int) -> bool:
        """True when a SUCCESS ``receipt`` shows this transfer of ``amount`` from ``address`` happened."""
        ...


@dataclass(frozen=True, slots=True)
class Trc20Asset:
    """A TRC20 token: sending it costs energy, which the sweep procures before signing."""

    token: Token
    destination: str
    trx_per_token: Decimal | None = None
    meter: EnergyMeter = field(default_factory=EnergyMeter)

    @property
    def unit(self) -> str:
        return self.token.symbol

    def balance(self, chain: Chain, address: str) -> int:
        return chain.token_balance(self.token.contract, address)

    def refusal(self, chain: Chain, address: str) -> Refusal | None:
        if chain.is_blacklisted(self.token.contract, address):
            return Refusal("blacklisted", "the token contract blacklists this address")
        return None

    def need(
        self, chain: Chain, address: str, amount: int, *, fresh: bool = False, have: Resources | None = None
    ) -> ResourceNeed:
        contract = self.token.contract
        measured = self.meter.measure(chain, contract, address, self.destination, amount, fresh=fresh)
        required = self.meter.policy.with_margin(measured)
        params = chain.chain_parameters()
        fee_limit = self.meter.fee_limit(required, params)
        if have is None:
            account = chain.account(address)
            activated, have = account is not None, account or Resources(0)
        else:
            activated = True
        bytes_ = size.trc20_transfer_bytes(address, contract, self.destination, amount, fee_limit)
        trx = have.trx
        if activated:
            short = not have.pays_bytes(bytes_, sun_per_byte=params.transaction_fee)
            if not short and max(have.staked_bandwidth, have.free_bandwidth) < bytes_:
                trx -= bytes_ * params.transaction_fee  # the bytes burn first
        else:
            short = params.free_net_limit < bytes_  # activation brings the day's free allowance
        burnable = max(0, trx) // params.energy_fee if params.energy_fee else 0
        return ResourceNeed(
            energy=max(0, required - have.energy),  # renting is cheaper than burning the address's TRX
            bandwidth=bytes_ if short else 0,
            activation=not activated,
            required_energy=required,
            required_bandwidth=bytes_,
            measured_energy=measured,
            available_energy=have.energy + burnable,
        )

    def build_transfer(
        self, chain: Chain, signer: Signer, amount: int, *, energy_needed: int | None
    ) -> Transfer | Refusal:
        fee_limit = self.meter.fee_limit(energy_needed or 0, chain.chain_parameters())
        tx = chain.build_token_transfer(self.token.contract, signer, self.destination, amount, fee_limit)
        return Transfer(tx, amount)

    def proves(self, receipt: Receipt, address: str, amount: int) -> bool:
        """Only the token's ``Transfer(address, destination, amount)`` log proves it (docs/TRON.md §8)."""
        return transfer_logged(receipt.logs, self.token.contract, address, self.destination, amount)


@dataclass(frozen=True, slots=True)
class TrxAsset:
    """Native TRX left on an address: it needs no energy, only the bandwidth a TRX transfer burns."""

    destination: str
    min_amount: int = NEVER
    trx_per_token: Decimal | None = None

    @property
    def token(self) -> Token:
        return Token(TRX, TRX, 6, self.min_amount)

    @property
    def unit(self) -> str:
        return "sun"

    def balance(self, chain: Chain, address: str) -> int:
        return chain.trx_balance(address)

    def refusal(self, chain: Chain, address: str) -> Refusal | None:
        return None

    def need(
        self, chain: Chain, address: str, amount: int, *, fresh: bool = False, have: Resources | None = None
    ) -> ResourceNeed:
        return ResourceNeed()  # the transfer pays its own bytes out of the amount when it must

    def build_transfer(
        self, chain: Chain, signer: Signer, amount: int, *, energy_needed: int | None
    ) -> Transfer | Refusal:
        have = chain.resources(signer.address)
        fee = chain.chain_parameters().transaction_fee
        bytes_ = size.trx_transfer_bytes(signer.address, self.destination, amount)
        staked_or_free = max(have.staked_bandwidth, have.free_bandwidth) >= bytes_
        send = amount if staked_or_free else amount - bytes_ * fee
        if send <= 0:
            return Refusal("below_threshold", f"{amount} sun does not cover the bandwidth fee")
        return Transfer(chain.build_trx_transfer(signer, self.destination, send), send)

    def proves(self, receipt: Receipt, address: str, amount: int) -> bool:
        return receipt.success  # a TransferContract has no log: its SUCCESS is the transfer


class AssetBook:
    """Every configured asset by contract key, and which asset follows which after a sweep."""

    def __init__(self, tokens: Mapping[str, Asset], trx: TrxAsset | None, *, leftover: bool = False) -> None:
        self._tokens = dict(tokens)
        self._trx = trx
        self._leftover = leftover and trx is not None

    @classmethod
    def build(
        cls,
        tokens: Mapping[str, Token],
        destinations: Mapping[str, str],
        trx_per_token: Mapping[str, Decimal],
        leftover_trx_min_sun: int | None,
        energy: EnergyPolicy | None = None,
    ) -> AssetBook:
        """Assets from configuration; leftover TRX goes to the first token's destination, if enabled."""
        meter = EnergyMeter(energy or EnergyPolicy())
        assets: dict[str, Asset] = {
            contract: Trc20Asset(token, destinations[contract], trx_per_token.get(contract), meter)
            for contract, token in tokens.items()
        }
        trx = None
        if destinations:
            minimum = NEVER if leftover_trx_min_sun is None else leftover_trx_min_sun
            trx = TrxAsset(next(iter(destinations.values())), minimum)
        return cls(assets, trx, leftover=leftover_trx_min_sun is not None)

    def get(self, contract: str) -> Asset:
        """The asset under this contract key; KeyError for a token nobody configured."""
        if contract == TRX and self._trx is not None:
            return self._trx
        return self._tokens[contract]

    def __iter__(self) -> Iterator[str]:
        """The contract keys of the configured tokens (what detection looks for)."""
        return iter(self._tokens)

    def follow_ups(self, contract: str) -> list[str]:
        """Assets to sweep from the same address once this one is confirmed (leftover TRX after a token)."""
        if self._leftover and contract in self._tokens:
            return [TRX]
        return []
