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
"""A mainnet USDT transfer to a holder as observed today: a reference figure, never an assumption
(the sweep measures each transfer, docs/TRON.md §6)."""
ENERGY_TRANSFER_TO_NEW_HOLDER = 130_285
TRC20_TRANSFER_BANDWIDTH = 345
"""Bytes a one-signature TRC20 transfer is charged, typically; the sweep computes its own (``chain.size``)."""
UINT256_MAX = 2**256 - 1
"""The largest TRC20 amount: balances are uint256."""


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
IN_FLIGHT_STATES = frozenset(
    {SweepState.ACTIVATING, SweepState.ENERGY_ORDERED, SweepState.ENERGY_READY, SweepState.SIGNED}
)
"""Between the first order and the broadcast: energy may be paid for and not yet used (``Guards.gate``)."""


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
    NO_BANDWIDTH = "NO_BANDWIDTH"
    """``BANDWITH_ERROR``: nothing can pay the bytes now; refused, not sent. Get bandwidth, then resend."""


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
    """What the order took out of the exchange's wallets: the provider's charge, or for our own wallets
    the TRX sent plus the fees their transactions burned (activation, bandwidth)."""
    delegate_txid: str | None = None
    detail: str = ""
    delivered_sun: int = 0
    """TRX this order put on the receiving address for the transfer to burn (``delivers_trx`` sources)."""
    refunded_sun: int = 0
    """What the provider gave back (itrx ``refund_amount``, ea888fee ``refundAmount``); ``cost_sun`` is
    the charge before it, so what the order really cost is ``cost_sun - refunded_sun``."""
    created_at: float | None = None
    """When the provider says it created the order (Unix seconds), where it says so."""
    charge_mismatch: bool = False
    """The source charged far from what its own price list said the order costs (docs/PROVIDERS.md §3.4):
    its quotes cannot be trusted, so its breaker is opened."""
    found: bool = False
    """It was found by looking our number up, not placed by this call: adopt it only if it is this step's."""

    @property
    def net_cost_sun(self) -> int:
        """What the order really cost: charged minus refunded, never below zero."""
        return max(0, self.cost_sun - self.refunded_sun)


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
    required_bandwidth: int = 0
    """Bytes the transfer is charged; ``bandwidth`` is that figure when the address cannot pay it now."""
    measured_energy: int = 0
    """What the chain measured for the exact transfer, before the margin."""
    available_energy: int = 0
    """Energy the address can use now: its own, plus what its TRX can burn for (after the bytes)."""

    @property
    def nothing(self) -> bool:
        """True when nothing is to be obtained: the transfer's need, margin included, is on the address."""
        return self.energy <= 0 and self.bandwidth <= 0 and not self.activation

    @property
    def sendable(self) -> bool:
        """True when the transfer can be sent now: the measured energy and the bytes are payable."""
        return not self.activation and self.bandwidth <= 0 and self.available_energy >= self.measured_energy


@dataclass(frozen=True, slots=True)
class Resources:
    """Energy and bandwidth an account can spend right now, with its TRX (which can burn for either).

    java-tron pays a transaction's bytes from staked bandwidth, else from the free allowance, else by
    burning TRX; each must cover all the bytes, they are never combined (docs/TRON.md §5).
    """

    energy: int
    free_bandwidth: int = 0
    staked_bandwidth: int = 0
    trx: int = 0

    @property
    def bandwidth(self) -> int:
        """Free plus staked bytes (for display; paying uses one or the other, see ``pays_bytes``)."""
        return self.free_bandwidth + self.staked_bandwidth

    def pays_bytes(self, size: int, *, sun_per_byte: int) -> bool:
        """True when a transaction of ``size`` bytes can be sent without anything more."""
        return self.staked_bandwidth >= size or self.free_bandwidth >= size or self.trx >= size * sun_per_byte


@dataclass(frozen=True, slots=True)
class ChainParameters:
    """The chain's prices and limits, read from ``getchainparameters`` (never assumed, docs/TRON.md §9)."""

    energy_fee: int
    """Sun per energy burned (``getEnergyFee``)."""
    transaction_fee: int
    """Sun per byte burned (``getTransactionFee``)."""
    create_account_fee: int = 0
    """What the bytes of an account-creating transaction burn without stake (``getCreateAccountFee``)."""
    create_new_account_fee_in_system_contract: int = 0
    """The fee for creating an account by a transfer (``getCreateNewAccountFeeInSystemContract``)."""
    free_net_limit: int = 0
    """Free bytes per account and day (``getFreeNetLimit``)."""
    max_fee_limit: int | None = None
    """The largest ``fee_limit`` the chain accepts (``getMaxFeeLimit``), if the node reports it."""

    @property
    def activation_sun(self) -> int:
        """What the sender of a TRX transfer that creates an account pays beyond the amount, without stake."""
        return self.create_account_fee + self.create_new_account_fee_in_system_contract


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block's number and timestamp: chain time, the only clock expiry is judged by; with its id
    (``blockID``, 64 hex digits, the number in the first 16) when the node sent it."""

    number: int
    timestamp_ms: int
    block_id: str = ""


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
