"""World state of the devnet: accounts, Stake-2.0 delegations and TRC20 contracts (no locking here)."""

from __future__ import annotations

from typing import Any

from devnet.accounts import ENERGY, Account, Delegation
from devnet.params import ChainParams
from devnet.usdt import USDT_HEX, Trc20Token


class State:
    """Plain containers plus the few mutations more than one actuator needs; the Chain holds the lock."""

    def __init__(self, params: ChainParams | None = None) -> None:
        self.params = params or ChainParams()
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Trc20Token] = {USDT_HEX: Trc20Token()}
        self.delegations: dict[tuple[str, str], Delegation] = {}
        self.delegated_to: dict[str, set[str]] = {}  # owner -> receivers
        self.delegated_from: dict[str, set[str]] = {}  # receiver -> owners

    def account(self, hex_addr: str) -> Account | None:
        return self.accounts.get(hex_addr)

    def create_account(self, hex_addr: str, now_ms: int) -> Account:
        acc = self.accounts.get(hex_addr)
        if acc is None:
            acc = self.accounts[hex_addr] = Account(hex_addr, create_time=now_ms)
        return acc

    def delegation(self, owner: str, receiver: str) -> Delegation | None:
        return self.delegations.get((owner, receiver))

    def delegate(self, owner: Account, receiver: Account, resource: str, sun: int, expire_ms: int) -> None:
        """Move `sun` of owner's own stake into a delegation to receiver."""
        d = self.delegations.get((owner.address, receiver.address))
        if d is None:
            d = self.delegations[(owner.address, receiver.address)] = Delegation(
                owner.address, receiver.address
            )
            self.delegated_to.setdefault(owner.address, set()).add(receiver.address)
            self.delegated_from.setdefault(receiver.address, set()).add(owner.address)
        if resource == ENERGY:
            owner.frozen_energy -= sun
            owner.delegated_energy += sun
            receiver.acquired_energy += sun
            d.energy += sun
            d.energy_expire = max(d.energy_expire, expire_ms)
        else:
            owner.frozen_net -= sun
            owner.delegated_net += sun
            receiver.acquired_net += sun
            d.net += sun
            d.net_expire = max(d.net_expire, expire_ms)

    def undelegate(self, owner: Account, receiver_hex: str, resource: str, sun: int, now_ms: int) -> None:
        """Return `sun` of a delegation to the owner's stake, moving a share of the receiver's usage too."""
        d = self.delegations[(owner.address, receiver_hex)]
        receiver = self.accounts.get(receiver_hex)
        if resource == ENERGY:
            d.energy -= sun
            owner.delegated_energy -= sun
            owner.frozen_energy += sun
            if receiver is not None:
                total = receiver.frozen_energy + receiver.acquired_energy
                usage = receiver.energy_usage(now_ms)
                moved = usage * sun // total if total else 0
                receiver.acquired_energy -= sun
                receiver.energy_used, receiver.energy_time = usage - moved, now_ms
                owner.use_energy(moved, now_ms)
        else:
            d.net -= sun
            owner.delegated_net -= sun
            owner.frozen_net += sun
            if receiver is not None:
                total = receiver.frozen_net + receiver.acquired_net
                usage = receiver.net_usage(now_ms)
                moved = usage * sun // total if total else 0
                receiver.acquired_net -= sun
                receiver.net_used, receiver.net_time = usage - moved, now_ms
                owner.use_net(moved, now_ms)
        if d.energy == 0 and d.net == 0:
            del self.delegations[(owner.address, receiver_hex)]
            self.delegated_to.get(owner.address, set()).discard(receiver_hex)
            self.delegated_from.get(receiver_hex, set()).discard(owner.address)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params.to_dict(),
            "accounts": [a.to_dict() for a in self.accounts.values()],
            "tokens": [t.to_dict() for t in self.tokens.values()],
            "delegations": [d.to_dict() for d in self.delegations.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        state = cls(ChainParams.from_dict(data.get("params", {})))
        for a in data.get("accounts", []):
            acc = Account.from_dict(a)
            state.accounts[acc.address] = acc
        for t in data.get("tokens", []):
            token = Trc20Token.from_dict(t)
            state.tokens[token.address] = token
        for d in data.get("delegations", []):
            dl = Delegation.from_dict(d)
            state.delegations[(dl.owner, dl.receiver)] = dl
            state.delegated_to.setdefault(dl.owner, set()).add(dl.receiver)
            state.delegated_from.setdefault(dl.receiver, set()).add(dl.owner)
        return state
