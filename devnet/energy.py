"""Dynamic energy: the penalty a contract's `energy_factor` adds to a call (java-tron VM.play).

java-tron charges every opcode its base energy `e` plus `e * (factor + 10 000) / 10 000 - e` (integer
division per opcode) when the called contract's factor is above zero and `getAllowDynamicEnergy` is on;
the sum of those surpluses is the receipt's `energy_penalty_total` and `triggerconstantcontract`'s
`energy_penalty`. The devnet does not run bytecode, so a call's base energy is modelled as `cheap_ops`
opcodes of 3 energy (whose penalty loses the fraction to the per-opcode division) plus one remainder.
With 875 cheap opcodes this reproduces mainnet USDT's receipts exactly at factor 34 000:
14 650 base + 49 635 penalty = 64 285, and 29 650 + 100 635 = 130 285 for a recipient's fresh slot.
"""

from __future__ import annotations

from dataclasses import dataclass

FACTOR_DECIMAL = 10_000  # Constant.DYNAMIC_ENERGY_FACTOR_DECIMAL
CHEAP_OP_ENERGY = 3  # PUSH/DUP/SWAP/ADD…: the "very low" opcode tier
TRANSFER_CHEAP_OPS = 875  # opcodes of 3 energy in a TRC20 transfer (fits USDT's receipts, see above)


@dataclass(frozen=True)
class CallCost:
    """Base energy of one contract call (no penalty) and how many of its opcodes cost 3 energy."""

    base: int
    cheap_ops: int = 0

    def penalty(self, factor: int) -> int:
        """The energy the factor adds (VM.play); 0 when the factor is not above 0."""
        if factor <= 0 or self.base <= 0:
            return 0
        cheap = min(self.cheap_ops, self.base // CHEAP_OP_ENERGY)
        rest = self.base - cheap * CHEAP_OP_ENERGY
        return cheap * op_penalty(CHEAP_OP_ENERGY, factor) + op_penalty(rest, factor)

    def total(self, factor: int) -> int:
        return self.base + self.penalty(factor)


def op_penalty(energy: int, factor: int) -> int:
    """One opcode's penalty: `energy * (factor + 10 000) / 10 000 - energy`, never negative."""
    return max(energy * (factor + FACTOR_DECIMAL) // FACTOR_DECIMAL - energy, 0)


def transfer_costs(holder_base: int, new_holder_base: int) -> tuple[CallCost, CallCost]:
    """A TRC20 token's transfer cost to a holder and to an address whose balance slot is fresh."""
    return (
        CallCost(holder_base, min(TRANSFER_CHEAP_OPS, holder_base // CHEAP_OP_ENERGY)),
        CallCost(new_holder_base, min(TRANSFER_CHEAP_OPS, new_holder_base // CHEAP_OP_ENERGY)),
    )


def cycle_number(head_ms: int, genesis_ms: int, maintenance_ms: int) -> int:
    """The maintenance cycle the head block is in (DynamicPropertiesStore.getCurrentCycleNumber)."""
    if maintenance_ms <= 0:
        return 0
    return max(head_ms - genesis_ms, 0) // maintenance_ms
