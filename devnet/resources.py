"""Pure resource math: usage recovery, stake-to-resource ratios and the fee waterfalls of java-tron."""

from __future__ import annotations

import math
from dataclasses import dataclass

from devnet.errors import bandwidth_error
from devnet.params import ChainParams

WINDOW_MS = 86_400_000  # usage recovers linearly over 24 h (ChainConstant.WINDOW_SIZE_MS)
SLOT_MS = 3_000  # BLOCK_PRODUCED_INTERVAL: java-tron counts resource time in 3 s slots of the head block
WINDOW_SLOTS = WINDOW_MS // SLOT_MS  # 28 800
WINDOW_SIZE = 28_800_000  # what java-tron prints as *_window_size (slots x WINDOW_SIZE_PRECISION)
PRECISION = 1_000_000  # ChainConstant.PRECISION, the fixed point of ResourceProcessor's averages
SUN_PER_TRX = 1_000_000


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def java_round(value: float) -> int:
    """java.lang.Math.round: half up."""
    return math.floor(value + 0.5)


def increase(last_usage: int, usage: int, last_slot: int, now_slot: int, window: int = WINDOW_SLOTS) -> int:
    """java-tron ResourceProcessor.increase: decay `last_usage` from `last_slot` to `now_slot`, add `usage`.

    Usage is kept as an average per slot in fixed point (PRECISION) and decays linearly to zero over
    `window` slots; the arithmetic (ceil, Math.round on a double, floor) is java-tron's.
    """
    average_last = _ceil_div(last_usage * PRECISION, window)
    average = _ceil_div(usage * PRECISION, window)
    if now_slot > last_slot:
        if last_slot + window > now_slot:
            decay = (window - (now_slot - last_slot)) / window
            average_last = java_round(average_last * decay)
        else:
            average_last = 0
    return (average_last + average) * window // PRECISION


def slot_of(ms: int) -> int:
    """The resource slot of a timestamp (3 s slots; the devnet's genesis sits on a slot boundary)."""
    return ms // SLOT_MS


def recovered(used: int, last_ms: int, now_ms: int, window_ms: int = WINDOW_MS) -> int:
    """Usage still counted at `now_ms` after linear recovery since it was last raised at `last_ms`.

    Like java-tron, time is counted in whole 3 s slots, so usage does not move within a slot.
    """
    if used <= 0:
        return 0
    return increase(used, 0, slot_of(last_ms), slot_of(now_ms), window_ms // SLOT_MS)


def energy_from_stake(sun: int, params: ChainParams) -> int:
    """EnergyLimit granted by `sun` staked (own or delegated): stake share * TotalEnergyLimit."""
    return sun * params.total_energy_limit // (params.total_energy_weight * SUN_PER_TRX)


def stake_for_energy(energy: int, params: ChainParams) -> int:
    """Sun that must be staked to grant `energy` (rounded up)."""
    num = energy * params.total_energy_weight * SUN_PER_TRX
    return -(-num // params.total_energy_limit)


def net_from_stake(sun: int, params: ChainParams) -> int:
    """NetLimit (bytes/day) granted by `sun` staked for bandwidth."""
    return sun * params.total_net_limit // (params.total_net_weight * SUN_PER_TRX)


def stake_for_net(nbytes: int, params: ChainParams) -> int:
    """Sun that must be staked for bandwidth to grant `nbytes` of NetLimit (rounded up)."""
    return -(-nbytes * params.total_net_weight * SUN_PER_TRX // params.total_net_limit)


def usage_as_stake(usage: int, total_limit: int, total_weight: int) -> int:
    """The stake (sun) a usage stands for: `usage * TRX_PRECISION * weight / limit`, as a double, truncated.

    java-tron DelegateResourceActuator / Wallet.calcCanDelegated*MaxSize.
    """
    if total_limit <= 0:
        return 0
    return int(usage * SUN_PER_TRX * (total_weight / total_limit))


def caller_energy_limit(energy_left: int, balance: int, fee_limit: int, energy_fee: int) -> int:
    """java-tron VMActuator.getAccountEnergyLimitWithFixRatio: fee_limit caps staked energy too."""
    if energy_fee <= 0:
        return energy_left if fee_limit > 0 else 0
    available = energy_left + max(balance, 0) // energy_fee
    return min(available, max(fee_limit, 0) // energy_fee)


@dataclass(frozen=True)
class BandwidthCharge:
    """How a transaction's bytes are paid: from stake/free allowance (net_usage) or by burning (net_fee)."""

    source: str  # "staked" | "free" | "burn" | "create"
    net_usage: int = 0
    net_fee: int = 0


def plan_bandwidth(
    *,
    nbytes: int,
    creates_account: bool,
    staked_left: int,
    free_left: int,
    balance: int,
    params: ChainParams,
) -> BandwidthCharge:
    """java-tron BandwidthProcessor: staked → free 600 → burn; account creation skips the free part.

    Raises BANDWITH_ERROR when nothing can pay.
    """
    if creates_account:
        cost = nbytes * params.create_new_account_bandwidth_rate
        if staked_left >= cost:
            return BandwidthCharge("staked", net_usage=cost)
        if balance >= params.create_account_fee:
            return BandwidthCharge("create", net_fee=params.create_account_fee)
        raise bandwidth_error()
    if staked_left >= nbytes:
        return BandwidthCharge("staked", net_usage=nbytes)
    if free_left >= nbytes:
        return BandwidthCharge("free", net_usage=nbytes)
    fee = nbytes * params.transaction_fee
    if balance >= fee:
        return BandwidthCharge("burn", net_fee=fee)
    raise bandwidth_error()


@dataclass(frozen=True)
class EnergyCharge:
    """Energy actually used, split into the caller's staked/delegated part and the TRX burned for the rest."""

    total: int
    from_stake: int
    burned_sun: int


def split_energy(used: int, energy_left: int, energy_fee: int) -> EnergyCharge:
    """Staked/delegated energy first, the remainder burned at the energy price."""
    from_stake = min(used, max(energy_left, 0))
    return EnergyCharge(total=used, from_stake=from_stake, burned_sun=(used - from_stake) * energy_fee)
