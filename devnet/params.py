"""Chain parameters (governance values) with mainnet defaults, rendered like getchainparameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# java-tron getchainparameters key -> ChainParams attribute (Wallet.getChainParameters prints these)
PARAM_KEYS: dict[str, str] = {
    "getMaintenanceTimeInterval": "maintenance_time_interval",
    "getCreateAccountFee": "create_account_fee",
    "getTransactionFee": "transaction_fee",
    "getEnergyFee": "energy_fee",
    "getCreateNewAccountFeeInSystemContract": "create_new_account_fee_in_system_contract",
    "getCreateNewAccountBandwidthRate": "create_new_account_bandwidth_rate",
    "getFreeNetLimit": "free_net_limit",
    "getTotalNetLimit": "total_net_limit",
    "getTotalEnergyLimit": "total_energy_limit",
    "getTotalEnergyCurrentLimit": "total_energy_limit",
    "getMultiSignFee": "multi_sign_fee",
    "getMemoFee": "memo_fee",
    "getMaxFeeLimit": "max_fee_limit",
    "getAllowMultiSign": "allow_multi_sign",
    "getAllowDelegateResource": "allow_delegate_resource",
    "getUnfreezeDelayDays": "unfreeze_delay_days",
    "getAllowDynamicEnergy": "allow_dynamic_energy",
    "getDynamicEnergyThreshold": "dynamic_energy_threshold",
    "getDynamicEnergyIncreaseFactor": "dynamic_energy_increase_factor",
    "getDynamicEnergyMaxFactor": "dynamic_energy_max_factor",
    "getMaxDelegateLockPeriod": "max_delegate_lock_period",
}
# Accepted by `update` (older devnet versions printed them) but not printed: java-tron has no such
# chain parameter; the network weights are in getaccountresource (TotalEnergyWeight, TotalNetWeight).
ALIAS_KEYS: dict[str, str] = {
    "getAllowTvmFreezeV2": "allow_freeze_v2",
    "getTotalEnergyWeight": "total_energy_weight",
    "getTotalNetWeight": "total_net_weight",
}


@dataclass
class ChainParams:
    """Economics of the devnet; defaults are today's mainnet values (docs/TRON.md §9)."""

    energy_fee: int = 100
    transaction_fee: int = 1_000
    free_net_limit: int = 600
    create_account_fee: int = 100_000
    create_new_account_fee_in_system_contract: int = 1_000_000
    create_new_account_bandwidth_rate: int = 1
    memo_fee: int = 1_000_000
    multi_sign_fee: int = 1_000_000
    max_fee_limit: int = 15_000_000_000
    total_energy_limit: int = 180_000_000_000
    # Whole TRX staked network-wide; fixed so that 1 energy = 100_000 sun staked.
    total_energy_weight: int = 18_000_000_000
    total_net_limit: int = 43_200_000_000
    total_net_weight: int = 43_200_000_000
    maintenance_time_interval: int = 21_600_000
    allow_multi_sign: int = 1
    allow_delegate_resource: int = 1
    allow_freeze_v2: int = 1
    unfreeze_delay_days: int = 14
    allow_dynamic_energy: int = 1
    dynamic_energy_threshold: int = 5_000_000_000
    dynamic_energy_increase_factor: int = 2_000
    dynamic_energy_max_factor: int = 34_000
    max_delegate_lock_period: int = 864_000
    # Devnet only (no java-tron key): the energy_factor of every contract that has none of its own,
    # as ContractState.energy_factor (x10 000 over 1). 34 000 is where mainnet USDT sits (3.4 = the max).
    energy_factor: int = 34_000

    def update(self, values: dict[str, Any]) -> None:
        """Set parameters by attribute name or java-tron key; raises KeyError/ValueError on bad input."""
        names = {f.name for f in fields(self)}
        for key, value in values.items():
            attr = PARAM_KEYS.get(key) or ALIAS_KEYS.get(key, key)
            if attr not in names:
                raise KeyError(f"unknown chain parameter {key!r}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"chain parameter {key!r} must be a non-negative integer")
            setattr(self, attr, value)

    def chain_parameters(self) -> list[dict[str, Any]]:
        """getchainparameters' list: `value` omitted when 0, as java-tron's proto3 printer does."""
        out: list[dict[str, Any]] = []
        for key, attr in PARAM_KEYS.items():
            value = getattr(self, attr)
            out.append({"key": key, "value": value} if value else {"key": key})
        return out

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChainParams:
        params = cls()
        params.update({k: v for k, v in data.items() if k in {f.name for f in fields(cls)}})
        return params
