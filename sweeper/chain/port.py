"""The chain port: what the domain needs from TRON, with no tronpy or HTTP types leaking out.

Addresses are base58check (``T…``) strings; amounts are ints in base units (sun, token units).
"""

from __future__ import annotations

from collections.abc import Collection, Container, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sweeper.chain.intent import Intent
from sweeper.models import BlockRef, BroadcastOutcome, ChainParameters, Receipt, Resources, SignedTx


@runtime_checkable
class Signer(Protocol):
    """Signs one address's transactions it can read; the chain adapter never sees private keys.

    A signer is handed the *unsigned* transaction, never a bare hash: it recomputes the txid from
    ``raw_data`` and signs only what the signing policy allows (``sweeper/custody/policy.py``).
    """

    @property
    def address(self) -> str:
        """The base58 address of the key."""
        ...

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        """65 bytes r||s||v (v in {0, 1}) over the txid of ``raw_data``; ``SigningRefused`` when the
        policy does not allow it."""
        ...

    def probe(self) -> None:
        """Prove, without signing anything, that this key can be used: ``UnknownKey``,
        ``SignerRejected`` or ``SignerUnavailable`` otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class TokenTransfer:
    """One TRC20 ``Transfer`` event found in a mined block (all addresses base58)."""

    contract: str
    txid: str
    block_number: int
    from_address: str
    to_address: str
    amount: int
    log_index: int = 0


class Chain(Protocol):
    """The TRON operations a sweep needs. Failures raise ``sweeper.errors`` types only."""

    def is_activated(self, address: str) -> bool: ...

    def trx_balance(self, address: str) -> int:
        """Sun; 0 if the account is not activated."""
        ...

    def token_balance(self, contract: str, address: str) -> int: ...

    def resources(self, address: str) -> Resources:
        """Spendable energy, free and staked bandwidth and TRX; ``Resources(0)`` if not activated."""
        ...

    def account(self, address: str) -> Resources | None:
        """``resources`` of an activated account, None for one not on chain: whether it is activated and
        what it holds from one read of each (not ``is_activated`` then ``resources``, three)."""
        ...

    def is_blacklisted(self, contract: str, address: str) -> bool: ...

    def measure_transfer_energy(self, contract: str, owner: str, to: str, amount: int) -> int:
        """Energy the chain says this exact ``transfer(to, amount)`` from ``owner`` uses now, penalty
        included (``triggerconstantcontract`` ``energy_used``, else ``estimateenergy``)."""
        ...

    def chain_parameters(self) -> ChainParameters:
        """The chain's current prices and limits (cached briefly by implementations)."""
        ...

    def build_token_transfer(
        self, contract: str, owner: Signer, to: str, amount: int, fee_limit_sun: int
    ) -> SignedTx: ...

    def build_trx_transfer(self, owner: Signer, to: str, amount_sun: int) -> SignedTx: ...

    def build_delegate_energy(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx: ...

    def build_undelegate_energy(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx: ...

    def build_delegate_bandwidth(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx: ...

    def build_undelegate_bandwidth(self, owner: Signer, receiver: str, balance_sun: int) -> SignedTx: ...

    def broadcast(self, tx: SignedTx) -> BroadcastOutcome:
        """Send the stored signed bytes as-is: sent, already known, expired, or refused for bandwidth."""
        ...

    def receipt(self, txid: str) -> Receipt | None:
        """The mined outcome from the full node (may still be reorganised away), or None."""
        ...

    def solid_receipt(self, txid: str) -> Receipt | None:
        """The outcome once its block is solidified (``/walletsolidity``): final, or None."""
        ...

    def transaction_known(self, txid: str) -> bool: ...

    def head_block_number(self) -> int: ...

    def solid_block_number(self) -> int: ...

    def block_heights(self) -> tuple[int, int]:
        """(head, solid) block numbers from one node answer: a wait paced by both asks once."""
        ...

    def solid_lag(self) -> int:
        """How many blocks the solid block trails the head: as ``block_heights`` last read it in this
        process, if lately (implementations keep it a minute), else read now. It only paces the first
        look after a broadcast, which depends on nothing else."""
        ...

    def head_block(self) -> BlockRef:
        """The head block's number and timestamp: the chain time transactions are judged by."""
        ...

    def solid_block(self) -> BlockRef:
        """The latest solidified block's number and timestamp: nothing before it can change."""
        ...

    def block_seconds(self) -> float:
        """Mean seconds between the chain's recent blocks, from their own timestamps (3 on mainnet);
        paces a sweep's waits for blocks (cached briefly by implementations)."""
        ...

    def can_delegate_max_sun(self, owner: str, resource: str = "ENERGY") -> int: ...

    def delegated_energy_sun(self, owner: str, receiver: str) -> int: ...

    def delegated_bandwidth_sun(self, owner: str, receiver: str) -> int: ...

    def sun_per_energy_staked(self) -> int: ...

    def sun_per_bandwidth_staked(self) -> int:
        """Sun of staked TRX per byte of daily bandwidth, rounded up."""
        ...

    def energy_price_sun(self) -> int: ...

    def block_transfers(
        self,
        start: int,
        end: int,
        contracts: Collection[str],
        *,
        recipients: Container[int] | None = None,
    ) -> list[TokenTransfer]:
        """TRC20 ``Transfer`` logs of ``contracts`` in blocks ``start..end`` inclusive, in chain order;
        with ``recipients`` (address keys, ``addresses.KEY_BITS``), only those to them."""
        ...
