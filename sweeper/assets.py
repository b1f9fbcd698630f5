"""What is swept: a TRC20 token or native TRX, behind one protocol, keyed by contract address.

The state machine asks the asset for everything that differs between the two — the balance, whether the
address can ever send it, what one transfer needs, how to build it — so it never branches on a token.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from sweeper.models import ResourceNeed, SignedTx, Token

if TYPE_CHECKING:
    from sweeper.chain.port import Chain, Signer

TRX = "TRX"
"""The key (``token_contract``) of native TRX: it has no contract."""
FEE_LIMIT_HEADROOM = Decimal("1.2")
"""A token transfer's ``fee_limit`` covers its whole energy at the chain's price, plus this headroom."""
TRX_TRANSFER_RESERVE_SUN = 300_000
"""Bandwidth burn for a ~267-byte TRX transfer when no free bandwidth is left (1,000 sun per byte)."""
NEVER = 2**63
"""The minimum of an asset that is not swept: no balance reaches it."""


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

    def need(self, chain: Chain, address: str, margin: int) -> ResourceNeed:
        """What one transfer from ``address`` needs beyond what it has now."""
        ...

    def build_transfer(
        self, chain: Chain, signer: Signer, amount: int, *, energy_needed: int | None
    ) -> Transfer | Refusal:
        """Sign the transfer of ``amount`` from the signer's address to the destination."""
        ...


@dataclass(frozen=True, slots=True)
class Trc20Asset:
    """A TRC20 token: sending it costs energy, which the sweep procures before signing."""

    token: Token
    destination: str
    trx_per_token: Decimal | None = None

    @property
    def unit(self) -> str:
        return self.token.symbol

    def balance(self, chain: Chain, address: str) -> int:
        return chain.token_balance(self.token.contract, address)

    def refusal(self, chain: Chain, address: str) -> Refusal | None:
        if chain.is_blacklisted(self.token.contract, address):
            return Refusal("blacklisted", "the token contract blacklists this address")
        return None

    def need(self, chain: Chain, address: str, margin: int) -> ResourceNeed:
        activated = chain.is_activated(address)
        required = chain.transfer_energy(self.token.contract, self.destination) + max(0, margin)
        available = chain.resources(address).energy if activated else 0
        return ResourceNeed(
            energy=max(0, required - available), activation=not activated, required_energy=required
        )

    def build_transfer(
        self, chain: Chain, signer: Signer, amount: int, *, energy_needed: int | None
    ) -> Transfer | Refusal:
        energy = max(energy_needed or 0, chain.transfer_energy(self.token.contract, self.destination))
        fee_limit = math.ceil(energy * chain.energy_price_sun() * FEE_LIMIT_HEADROOM)
        tx = chain.build_token_transfer(self.token.contract, signer, self.destination, amount, fee_limit)
        return Transfer(tx, amount)


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

    def need(self, chain: Chain, address: str, margin: int) -> ResourceNeed:
        return ResourceNeed()

    def build_transfer(
        self, chain: Chain, signer: Signer, amount: int, *, energy_needed: int | None
    ) -> Transfer | Refusal:
        free = chain.resources(signer.address).bandwidth >= TRX_TRANSFER_RESERVE_SUN // 1000
        send = amount if free else amount - TRX_TRANSFER_RESERVE_SUN
        if send <= 0:
            return Refusal("below_threshold", f"{amount} sun does not cover the bandwidth fee")
        return Transfer(chain.build_trx_transfer(signer, self.destination, send), send)


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
    ) -> AssetBook:
        """Assets from configuration; leftover TRX goes to the first token's destination, if enabled."""
        assets: dict[str, Asset] = {
            contract: Trc20Asset(token, destinations[contract], trx_per_token.get(contract))
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
