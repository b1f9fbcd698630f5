"""Domain values shared across the sweeper. Money is always an int in base units (sun, token units)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

Sun = NewType("Sun", int)
"""TRX in sun (1 TRX = 1,000,000 sun)."""

TokenUnits = NewType("TokenUnits", int)
"""A token amount in its smallest unit (USDT: 6 decimals)."""

SUN_PER_TRX = 1_000_000
USDT_MAINNET = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
ENERGY_TRANSFER_TO_HOLDER = 64_285
ENERGY_TRANSFER_TO_NEW_HOLDER = 130_285
TRC20_TRANSFER_BANDWIDTH = 345


class SweepState(StrEnum):
    """Where a sweep stands; the transitions are drawn in docs/ARCHITECTURE.md."""

    DETECTED = "DETECTED"
    SKIPPED = "SKIPPED"
    ACTIVATING = "ACTIVATING"
    ENERGY_ORDERED = "ENERGY_ORDERED"
    ENERGY_READY = "ENERGY_READY"
    SIGNED = "SIGNED"
    BROADCAST = "BROADCAST"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


TERMINAL_STATES = frozenset({SweepState.SKIPPED, SweepState.CONFIRMED, SweepState.FAILED})


class OrderStatus(StrEnum):
    """An energy order as the provider reports it, folded into four outcomes.

    UNKNOWN means the order may or may not exist (a lost answer the source cannot look up): it is
    resolved by the energy appearing on chain or by a later lookup, never by ordering elsewhere blindly.
    """

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


class BroadcastOutcome(StrEnum):
    """What a broadcast achieved: all three are answers about the transaction, not failures."""

    SENT = "SENT"
    """The node accepted the bytes now."""
    ALREADY_KNOWN = "ALREADY_KNOWN"
    """The node already holds exactly these bytes (pending or mined): what we wanted."""
    EXPIRED = "EXPIRED"
    """The node says the expiration has passed; only the chain can tell whether it was ever included."""


@dataclass(frozen=True, slots=True)
class Token:
    """A TRC20 token we sweep, with the smallest balance worth sweeping."""

    symbol: str
    contract: str
    decimals: int
    min_amount: int


@dataclass(frozen=True, slots=True)
class Quote:
    """What one energy source would charge for one sweep's energy (and activation, if asked)."""

    source: str
    energy: int
    cost_sun: int
    duration: str = "1H"
    activation_sun: int = 0

    @property
    def total_sun(self) -> int:
        return self.cost_sun + self.activation_sun


@dataclass(frozen=True, slots=True)
class EnergyOrder:
    """An order placed at an energy source, keyed by our own order number."""

    source: str
    order_no: str
    receive_address: str
    energy: int
    status: OrderStatus = OrderStatus.PENDING
    provider_order_id: str | None = None
    cost_sun: int = 0
    delegate_txid: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ResourceNeed:
    """What one transfer still needs before it can be sent from its address.

    ``energy`` and ``bandwidth`` are what must be obtained (beyond what the address already has);
    ``required_energy`` is what the transfer consumes on the address, the figure delivery is judged by.
    """

    energy: int = 0
    bandwidth: int = 0
    activation: bool = False
    required_energy: int = 0

    @property
    def nothing(self) -> bool:
        """True when the transfer can be sent as things are."""
        return self.energy <= 0 and self.bandwidth <= 0 and not self.activation


@dataclass(frozen=True, slots=True)
class Resources:
    """Energy and bandwidth an account can spend right now."""

    energy: int
    bandwidth: int


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction, stored before broadcast so it can be re-broadcast as-is."""

    txid: str
    raw_json: str
    expiration_ms: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined transaction's outcome as read from the node."""

    txid: str
    block_number: int
    success: bool
    result: str
    fee_sun: int = 0
    energy_usage_total: int = 0
    energy_fee_sun: int = 0
    net_usage: int = 0
    net_fee_sun: int = 0
    message: str = ""
    logs: tuple[dict[str, object], ...] = field(default_factory=tuple)
