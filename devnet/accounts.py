"""Account and delegation records (Stake 2.0), keyed by lowercase hex address `41…`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from devnet import resources
from devnet.params import ChainParams

ENERGY = "ENERGY"
BANDWIDTH = "BANDWIDTH"


@dataclass
class Account:
    """One activated account. Stake amounts are sun; usages are raw and decay on read.

    Usage times (`*_time`) are resource slots (3 s of head-block time, `resources.slot_of`), as
    java-tron's `latest_consume_time*` are; getaccount prints them back as milliseconds.
    """

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

    def copy(self) -> Account:
        return replace(self, unfrozen=[dict(u) for u in self.unfrozen])

    # --- derived views (now = the head block's resource slot) ----------------------------------------

    def energy_limit(self, params: ChainParams) -> int:
        return resources.energy_from_stake(self.frozen_energy + self.acquired_energy, params)

    def energy_usage(self, now: int) -> int:
        return resources.increase(self.energy_used, 0, self.energy_time, now) if self.energy_used else 0

    def energy_left(self, params: ChainParams, now: int) -> int:
        return max(self.energy_limit(params) - self.energy_usage(now), 0)

    def net_limit(self, params: ChainParams) -> int:
        return resources.net_from_stake(self.frozen_net + self.acquired_net, params)

    def net_usage(self, now: int) -> int:
        return resources.increase(self.net_used, 0, self.net_time, now) if self.net_used else 0

    def free_net_usage(self, now: int) -> int:
        return resources.increase(self.free_net_used, 0, self.free_net_time, now) if self.free_net_used else 0

    def free_net_left(self, params: ChainParams, now: int) -> int:
        return max(params.free_net_limit - self.free_net_usage(now), 0)

    def staked_net_left(self, params: ChainParams, now: int) -> int:
        return max(self.net_limit(params) - self.net_usage(now), 0)

    def can_delegate_energy(self, params: ChainParams, now: int) -> int:
        """Own free energy stake minus the share backing energy in use, java-tron's way.

        DelegateResourceActuator.validate / Wallet.calcCanDelegatedEnergyMaxSize: the usage, turned into
        stake at the network ratio, is charged to delegations received first, then to own stake.
        """
        used = resources.usage_as_stake(
            self.energy_usage(now), params.total_energy_limit, params.total_energy_weight
        )
        return max(self.frozen_energy - max(used - self.acquired_energy, 0), 0)

    def can_delegate_net(self, params: ChainParams, now: int, extra_bytes: int = 0) -> int:
        """Own free bandwidth stake minus the share backing bandwidth in use (plus `extra_bytes`)."""
        used = resources.usage_as_stake(
            self.net_usage(now) + extra_bytes, params.total_net_limit, params.total_net_weight
        )
        return max(self.frozen_net - max(used - self.acquired_net, 0), 0)

    # --- mutations -----------------------------------------------------------------------------------

    def use_energy(self, amount: int, now: int) -> None:
        if amount > 0:
            self.energy_used = resources.increase(self.energy_used, amount, self.energy_time, now)
            self.energy_time = now

    def use_net(self, amount: int, now: int) -> None:
        if amount > 0:
            self.net_used = resources.increase(self.net_used, amount, self.net_time, now)
            self.net_time = now

    def use_free_net(self, amount: int, now: int) -> None:
        if amount > 0:
            self.free_net_used = resources.increase(self.free_net_used, amount, self.free_net_time, now)
            self.free_net_time = now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        return cls(**data)


@dataclass
class Delegation:
    """Stake delegated from one account to another (sun): the unlocked or the locked record of a pair.

    java-tron keeps the two apart (DelegatedResourceCapsule.createDbKeyV2(owner, receiver, lock)); a
    locked record's expiry (ms) is per resource, an unlocked record's expiry is 0.
    """

    owner: str
    receiver: str
    lock: bool = False
    energy: int = 0
    net: int = 0
    energy_expire: int = 0
    net_expire: int = 0

    def copy(self) -> Delegation:
        return replace(self)

    @property
    def key(self) -> tuple[str, str, bool]:
        return (self.owner, self.receiver, self.lock)

    def amount(self, resource: str) -> int:
        return self.energy if resource == ENERGY else self.net

    def expire(self, resource: str) -> int:
        return self.energy_expire if resource == ENERGY else self.net_expire

    def add(self, resource: str, sun: int, expire_ms: int) -> None:
        """DelegatedResourceCapsule.addFrozenBalanceFor*: add stake and set that resource's expiry."""
        if resource == ENERGY:
            self.energy += sun
            self.energy_expire = expire_ms
        else:
            self.net += sun
            self.net_expire = expire_ms

    def empty(self) -> bool:
        return not (self.energy or self.net or self.energy_expire or self.net_expire)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delegation:
        return cls(**data)
