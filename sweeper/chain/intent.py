"""What a transaction is meant to do, sent to the signer with the unsigned transaction.

The signer never trusts the intent: it decodes the raw data itself and signs only when both agree and
its policy allows what the raw data says (``sweeper/custody/policy.py``). The intent names the sweep for
the signer's audit line; the state machine sets it for the step it runs (``for_sweep``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

IntentKind = Literal["trc20_transfer", "trx_transfer", "delegate", "undelegate"]
TRX_ASSET = "TRX"

_sweep: ContextVar[int | None] = ContextVar("sweeper_signing_sweep", default=None)


@dataclass(frozen=True, slots=True)
class Intent:
    """``asset`` is the token contract (base58) or ``"TRX"``; ``amount`` in its base units (sun for
    TRX and delegations); ``to`` the recipient or the delegation's receiver."""

    kind: IntentKind
    asset: str
    amount: int
    to: str
    sweep_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "asset": self.asset,
            "amount": str(self.amount),
            "to": self.to,
            "sweep_id": self.sweep_id,
        }

    @classmethod
    def from_json(cls, data: Any) -> Intent:
        """ValueError unless ``data`` is an intent as ``to_json`` writes it."""
        if not isinstance(data, dict):
            raise ValueError("intent is not an object")
        kind, asset, to, sweep_id = data.get("kind"), data.get("asset"), data.get("to"), data.get("sweep_id")
        if kind not in ("trc20_transfer", "trx_transfer", "delegate", "undelegate"):
            raise ValueError("unknown intent kind")
        if not isinstance(asset, str) or not isinstance(to, str):
            raise ValueError("intent asset and to must be strings")
        if sweep_id is not None and (isinstance(sweep_id, bool) or not isinstance(sweep_id, int)):
            raise ValueError("intent sweep_id must be an integer")
        amount = data.get("amount")
        if not isinstance(amount, str) or not amount.isdigit():
            raise ValueError("intent amount must be a decimal string")
        return cls(kind, asset, int(amount), to, sweep_id)


def current_sweep() -> int | None:
    """The sweep whose step is running in this context, if any."""
    return _sweep.get()


@contextmanager
def for_sweep(sweep_id: int | None) -> Iterator[None]:
    """Name ``sweep_id`` in every intent built inside this block."""
    token = _sweep.set(sweep_id)
    try:
        yield
    finally:
        _sweep.reset(token)
