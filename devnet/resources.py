"""Pure resource math: usage recovery, stake-to-resource ratios and the fee waterfalls of java-tron."""

from __future__ import annotations

from dataclasses import dataclass

from devnet.errors import bandwidth_error
from devnet.params import ChainParams

WINDOW_MS = 86_400_000  # usage recovers linearly over 24 h (28 800 slots of 3 s)
SLOT_MS = 3_000
WINDOW_SIZE = 28_800_000  # what java-tron prints as *_window_size
SUN_PER_TRX = 1_000_000


def recovered(used: int, last_ms: int, now_ms: int, window_ms: int = WINDOW_MS) -> int:
    """Usage still counted at `now_ms` after linear recovery since it was last raised at `last_ms`.

    Like java-tron, time is counted in whole 3 s slots, so usage does not move within a slot.
    """
    if used <= 0:
        return 0
    window = window_ms // SLOT_MS
    elapsed = now_ms // SLOT_MS - last_ms // SLOT_MS
    if elapsed <= 0:
        return used
    if elapsed >= window:
        return 0
    return (used * (window - elapsed) * 2 + window) // (window * 2)  # rounded, as java-tron does


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
        if staked_left >= nbytes:
            return BandwidthCharge("staked", net_usage=nbytes)
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
