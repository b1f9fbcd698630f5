"""What the ledger hands to the domain: frozen dataclasses and status enums, never SQLAlchemy rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sweeper.models import TERMINAL_STATES, SweepState


class TxKind(StrEnum):
    """Why a transaction was signed."""

    TRANSFER = "transfer"
    ACTIVATION = "activation"
    DELEGATE = "delegate"
    UNDELEGATE = "undelegate"
    BURN_TOPUP = "burn_topup"


class TxStatus(StrEnum):
    """Where a stored transaction stands; SIGNED is written before the broadcast is attempted."""

    SIGNED = "SIGNED"
    BROADCAST = "BROADCAST"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


class OrderRequestStatus(StrEnum):
    """An energy order as the ledger knows it; REQUESTED is written before the HTTP call is made."""

    REQUESTED = "REQUESTED"
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class DepositAddress:
    """A watched deposit address and where its key comes from (a reference, never the key)."""

    address: str
    key_ref: str
    label: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Sweep:
    """One sweep of one token from one deposit address; ``destination`` is fixed at creation."""

    id: int
    address: str
    token_symbol: str
    token_contract: str
    amount: int
    destination: str
    state: SweepState
    attempt: int
    reason: str | None
    energy_needed: int | None
    energy_source: str | None
    order_no: str | None
    txid: str | None
    cost_sun: int
    dry_run: bool
    detected_block: int | None
    confirmed_block: int | None
    next_check_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def is_open(self) -> bool:
        return self.state not in TERMINAL_STATES

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Sweep:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["state"] = SweepState(values["state"])
        values["dry_run"] = bool(values["dry_run"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ChainTx:
    """A signed transaction kept so it can be re-broadcast as-is and never replaced blindly."""

    txid: str
    sweep_id: int | None
    kind: TxKind
    signed_json: str
    expiration_ms: int
    status: TxStatus
    block_number: int | None
    fee_sun: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ChainTx:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["kind"] = TxKind(values["kind"])
        values["status"] = TxStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An energy order for one sweep step, keyed by (source, our order number)."""

    id: int
    sweep_id: int
    step: str
    source: str
    order_no: str
    provider_order_id: str | None
    energy: int
    cost_sun: int | None
    status: OrderRequestStatus
    detail: str | None
    created_at: datetime
    updated_at: datetime
    quoted_sun: int | None = None
    refused_at: datetime | None = None
    reclaimed_at: datetime | None = None
    refunded_sun: int | None = None
    charge_mismatch: bool | None = None

    @property
    def activate(self) -> bool:
        """True for an order that also asks the provider to activate the address."""
        return self.step == "activation"

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> OrderRecord:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["status"] = OrderRequestStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A provider callback as received, recorded once under its unique event key."""

    id: int
    provider: str
    event_key: str
    payload: str
    received_at: datetime
    order_no: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> CallbackEvent:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One row of a sweep's append-only history."""

    id: int
    sweep_id: int
    from_state: SweepState | None
    to_state: SweepState
    reason: str | None
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> HistoryEntry:
        return cls(
            id=row["id"],
            sweep_id=row["sweep_id"],
            from_state=SweepState(row["from_state"]) if row["from_state"] is not None else None,
            to_state=SweepState(row["to_state"]),
            reason=row["reason"],
            at=row["at"],
            detail=json.loads(row["detail"]) if row["detail"] else {},
        )


@dataclass(frozen=True, slots=True)
class PauseState:
    """The kill switch as the ledger holds it: whether spending is paused, why, and since when."""

    paused: bool
    note: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An address no detection reopens until an operator releases it, and the failure that put it there."""

    address: str
    sweep_id: int
    reason: str | None
    quarantined_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Quarantined:
        return cls(row["address"], row["id"], row["reason"], row["updated_at"])


@dataclass(frozen=True, slots=True)
class StateTotals:
    """Counts and sums of sweeps in one state for one token, for ``sweeper status``."""

    state: SweepState
    token_symbol: str
    count: int
    amount: int
    cost_sun: int
    token_contract: str = ""
