"""Account and delegation records (Stake 2.0), keyed by lowercase hex address `41…`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from devnet import resources
from devnet.params import ChainParams

ENERGY = "ENERGY"
BANDWIDTH = "BANDWIDTH"


@dataclass
class Account:
    """One activated account. Stake amounts are sun; usages are raw and decay on read."""

    address: str
    balance: int = 0
    create_time: int = 0
    latest_operation_time: int = 0
    # own Stake-2.0 stake not delegated away, per resource
    frozen_energy: int = 0
    frozen_net: int = 0
    # stake delegated to others / received from others
    delegated_energy: int = 0
    delegated_net: int = 0
    acquired_energy: int = 0
    acquired_net: int = 0
    energy_used: int = 0
    energy_time: int = 0
    net_used: int = 0
    net_time: int = 0
    free_net_used: int = 0
    free_net_time: int = 0
    unfrozen: list[dict[str, Any]] = field(default_factory=list)

    # --- derived views -------------------------------------------------------------------------------

    def energy_limit(self, params: ChainParams) -> int:
        return resources.energy_from_stake(self.frozen_energy + self.acquired_energy, params)

    def energy_usage(self, now_ms: int) -> int:
        return resources.recovered(self.energy_used, self.energy_time, now_ms)

    def energy_left(self, params: ChainParams, now_ms: int) -> int:
        return max(self.energy_limit(params) - self.energy_usage(now_ms), 0)

    def net_limit(self, params: ChainParams) -> int:
        return resources.net_from_stake(self.frozen_net + self.acquired_net, params)

    def net_usage(self, now_ms: int) -> int:
        return resources.recovered(self.net_used, self.net_time, now_ms)

    def free_net_usage(self, now_ms: int) -> int:
        return resources.recovered(self.free_net_used, self.free_net_time, now_ms)

    def free_net_left(self, params: ChainParams, now_ms: int) -> int:
        return max(params.free_net_limit - self.free_net_usage(now_ms), 0)

    def staked_net_left(self, params: ChainParams, now_ms: int) -> int:
        return max(self.net_limit(params) - self.net_usage(now_ms), 0)

    def can_delegate_energy(self, params: ChainParams, now_ms: int) -> int:
        """getcandelegatedmaxsize for ENERGY: own free stake minus the share backing energy in use."""
        limit = self.energy_limit(params)
        used = self.energy_usage(now_ms)
        if limit <= 0:
            return self.frozen_energy
        used_sun = resources.stake_for_energy(min(used, limit), params)
        return max(self.frozen_energy - used_sun, 0)

    def can_delegate_net(self, params: ChainParams, now_ms: int) -> int:
        limit = self.net_limit(params)
        used = self.net_usage(now_ms)
        if limit <= 0:
            return self.frozen_net
        share = self.frozen_net * min(used, limit) // limit
        return max(self.frozen_net - share, 0)

    # --- mutations -----------------------------------------------------------------------------------

    def use_energy(self, amount: int, now_ms: int) -> None:
        if amount > 0:
            self.energy_used = self.energy_usage(now_ms) + amount
            self.energy_time = now_ms

    def use_net(self, amount: int, now_ms: int) -> None:
        if amount > 0:
            self.net_used = self.net_usage(now_ms) + amount
            self.net_time = now_ms

    def use_free_net(self, amount: int, now_ms: int) -> None:
        if amount > 0:
            self.free_net_used = self.free_net_usage(now_ms) + amount
            self.free_net_time = now_ms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        return cls(**data)


@dataclass
class Delegation:
    """Stake delegated from one account to another (sun), with optional lock expiry (ms)."""

    owner: str
    receiver: str
    energy: int = 0
    net: int = 0
    energy_expire: int = 0
    net_expire: int = 0

    def amount(self, resource: str) -> int:
        return self.energy if resource == ENERGY else self.net

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delegation:
        return cls(**data)
