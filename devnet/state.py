"""World state of the devnet: accounts, Stake-2.0 delegations and TRC20 contracts (no locking here).

A `State` is either a base (plain dicts) or a copy-on-write layer over another state (`child`): the
chain keeps one layer per unsolidified block over the solid state, an open layer for the block being
built, and the pending pool's layer on top (`devnet/chain.py`). Every mutation goes through these
containers, so a layer never changes the state below it until `merge_into` folds it in.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from devnet import resources
from devnet.accounts import ENERGY, Account, Delegation
from devnet.layers import Layer, flat
from devnet.params import ChainParams
from devnet.usdt import USDT_HEX, Trc20Token

DelegationKey = tuple[str, str, bool]  # (owner, receiver, lock)
CONTAINERS = ("accounts", "tokens", "delegations", "delegated_to", "delegated_from")


def _copy_set(value: set[str]) -> set[str]:
    return set(value)


class State:
    """Plain containers plus the few mutations more than one actuator needs; the Chain holds the lock."""

    def __init__(self, params: ChainParams | None = None) -> None:
        self.params = params or ChainParams()
        self.accounts: MutableMapping[str, Account] = {}
        self.tokens: MutableMapping[str, Trc20Token] = {USDT_HEX: Trc20Token()}
        self.delegations: MutableMapping[DelegationKey, Delegation] = {}
        self.delegated_to: MutableMapping[str, set[str]] = {}  # owner -> receivers
        self.delegated_from: MutableMapping[str, set[str]] = {}  # receiver -> owners

    # --- layers --------------------------------------------------------------------------------------

    def child(self) -> State:
        """A copy-on-write layer over this state (sharing the chain parameters)."""
        layer = State.__new__(State)
        layer.params = self.params
        layer.accounts = Layer(self.accounts, Account.copy)
        layer.tokens = Layer(self.tokens, Trc20Token.copy)
        layer.delegations = Layer(self.delegations, Delegation.copy)
        layer.delegated_to = Layer(self.delegated_to, _copy_set)
        layer.delegated_from = Layer(self.delegated_from, _copy_set)
        return layer

    def merge_into(self, base: State) -> None:
        """Fold this layer (which sits directly on `base`, a base state) into `base`."""
        tokens = self.tokens
        if isinstance(tokens, Layer):
            for address, token in tokens.local.items():
                below = base.tokens.get(address)
                if below is not None and isinstance(token.balances, Layer):
                    token.balances.merge_into(below.balances)
                    token.balances = below.balances
        for name in CONTAINERS:
            container = getattr(self, name)
            if isinstance(container, Layer):
                container.merge_into(getattr(base, name))

    def rebase(self, base: State) -> None:
        """Make this layer sit directly on `base` (after the layer between them was merged into it)."""
        for name in CONTAINERS:
            container = getattr(self, name)
            if isinstance(container, Layer):
                container.parent = getattr(base, name)
        if isinstance(self.tokens, Layer):
            for address, token in self.tokens.local.items():
                below = base.tokens.get(address)
                if below is not None and isinstance(token.balances, Layer):
                    token.balances.parent = below.balances

    # --- accounts ------------------------------------------------------------------------------------

    def account(self, hex_addr: str) -> Account | None:
        return self.accounts.get(hex_addr)

    def peek_account(self, hex_addr: str) -> Account | None:
        """The account for reading only (a layer does not copy it): never mutate the result."""
        accounts = self.accounts
        return accounts.peek(hex_addr) if isinstance(accounts, Layer) else accounts.get(hex_addr)

    def peek_token(self, hex_addr: str) -> Trc20Token | None:
        """The token for reading only (a layer does not copy it): never mutate the result."""
        tokens = self.tokens
        return tokens.peek(hex_addr) if isinstance(tokens, Layer) else tokens.get(hex_addr)

    def create_account(self, hex_addr: str, now_ms: int) -> Account:
        acc = self.accounts.get(hex_addr)
        if acc is None:
            acc = self.accounts[hex_addr] = Account(hex_addr, create_time=now_ms)
        return acc

    # --- delegations (DelegateResourceActuator / UnDelegateResourceActuator / DelegatedResourceStore) ---

    def delegation(self, owner: str, receiver: str, lock: bool = False) -> Delegation | None:
        return self.delegations.get((owner, receiver, lock))

    def delegation_records(self, owner: str, receiver: str) -> list[Delegation]:
        """The pair's records as getdelegatedresourcev2 lists them: unlocked first, then locked."""
        return [d for lock in (False, True) if (d := self.delegation(owner, receiver, lock)) is not None]

    def delegated_amount(self, owner: str, receiver: str, resource: str) -> int:
        return sum(d.amount(resource) for d in self.delegation_records(owner, receiver))

    def unlock_expired(self, owner: str, receiver: str, now_ms: int) -> None:
        """DelegatedResourceStore.unLockExpireResource: move expired locked stake to the unlocked record."""
        locked = self.delegation(owner, receiver, True)
        if locked is None or (locked.energy_expire >= now_ms and locked.net_expire >= now_ms):
            return
        unlocked = self.delegation(owner, receiver, False)
        if unlocked is None:
            unlocked = self.delegations[(owner, receiver, False)] = Delegation(owner, receiver, False)
        if locked.energy_expire < now_ms:
            unlocked.add(ENERGY, locked.energy, 0)
            locked.energy, locked.energy_expire = 0, 0
        if locked.net_expire < now_ms:
            unlocked.add("BANDWIDTH", locked.net, 0)
            locked.net, locked.net_expire = 0, 0
        if not (locked.energy or locked.net):
            del self.delegations[locked.key]

    def _index(self, owner: str, receiver: str) -> None:
        to = self.delegated_to.get(owner)
        self.delegated_to[owner] = (to or set()) | {receiver}
        frm = self.delegated_from.get(receiver)
        self.delegated_from[receiver] = (frm or set()) | {owner}

    def _unindex(self, owner: str, receiver: str) -> None:
        to = self.delegated_to.get(owner)
        if to is not None:
            to.discard(receiver)
        frm = self.delegated_from.get(receiver)
        if frm is not None:
            frm.discard(owner)

    def delegate(
        self,
        owner: Account,
        receiver: Account,
        resource: str,
        sun: int,
        *,
        lock: bool,
        expire_ms: int,
        now_ms: int,
    ) -> None:
        """Move `sun` of owner's own stake into the (owner, receiver, lock) record."""
        self.unlock_expired(owner.address, receiver.address, now_ms)
        key = (owner.address, receiver.address, lock)
        d = self.delegations.get(key)
        if d is None:
            d = self.delegations[key] = Delegation(owner.address, receiver.address, lock)
        d.add(resource, sun, expire_ms)
        self._index(owner.address, receiver.address)
        if resource == ENERGY:
            owner.frozen_energy -= sun
            owner.delegated_energy += sun
            receiver.acquired_energy += sun
        else:
            owner.frozen_net -= sun
            owner.delegated_net += sun
            receiver.acquired_net += sun

    def undelegate(
        self, owner: Account, receiver_hex: str, resource: str, sun: int, *, now_ms: int, now_slot: int
    ) -> None:
        """Return `sun` of the unlocked record to the owner's stake, moving a share of the receiver's usage.

        The share is `usage * sun / receiver's total stake`, capped by the resource `sun` stands for.
        """
        params = self.params
        receiver = self.accounts.get(receiver_hex)
        moved = 0
        if receiver is not None:
            if resource == ENERGY:
                usage = receiver.energy_usage(now_slot)
                total = receiver.frozen_energy + receiver.acquired_energy
                if receiver.acquired_energy < sun:
                    receiver.acquired_energy = 0
                else:
                    cap = int(
                        sun / resources.SUN_PER_TRX * (params.total_energy_limit / params.total_energy_weight)
                    )
                    moved = min(int(usage * (sun / total)), cap) if total else 0
                    receiver.acquired_energy -= sun
                receiver.energy_used, receiver.energy_time = usage - moved, now_slot
            else:
                usage = receiver.net_usage(now_slot)
                total = receiver.frozen_net + receiver.acquired_net
                if receiver.acquired_net < sun:
                    receiver.acquired_net = 0
                else:
                    cap = int(
                        sun / resources.SUN_PER_TRX * (params.total_net_limit / params.total_net_weight)
                    )
                    moved = min(int(usage * (sun / total)), cap) if total else 0
                    receiver.acquired_net -= sun
                receiver.net_used, receiver.net_time = usage - moved, now_slot
        self.unlock_expired(owner.address, receiver_hex, now_ms)
        unlocked = self.delegations[(owner.address, receiver_hex, False)]
        unlocked.add(resource, -sun, 0)
        if resource == ENERGY:
            owner.delegated_energy -= sun
            owner.frozen_energy += sun
            if moved:
                owner.energy_used = owner.energy_usage(now_slot) + moved
                owner.energy_time = now_slot
        else:
            owner.delegated_net -= sun
            owner.frozen_net += sun
            if moved:
                owner.net_used = owner.net_usage(now_slot) + moved
                owner.net_time = now_slot
        if not (unlocked.energy or unlocked.net):
            del self.delegations[unlocked.key]
            if self.delegation(owner.address, receiver_hex, True) is None:
                self._unindex(owner.address, receiver_hex)

    # --- persistence ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params.to_dict(),
            "accounts": [a.to_dict() for a in flat(self.accounts).values()],
            "tokens": [t.to_dict() for t in flat(self.tokens).values()],
            "delegations": [d.to_dict() for d in flat(self.delegations).values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int = 2) -> State:
        state = cls(ChainParams.from_dict(data.get("params", {})))
        times = ("energy_time", "net_time", "free_net_time")
        for saved in data.get("accounts", []):
            a = dict(saved)
            if version < 2:  # usage times were milliseconds
                a.update({k: resources.slot_of(a.get(k, 0)) for k in times})
            acc = Account.from_dict(a)
            state.accounts[acc.address] = acc
        for t in data.get("tokens", []):
            token = Trc20Token.from_dict(t)
            state.tokens[token.address] = token
        for saved in data.get("delegations", []):
            d = dict(saved)
            if version < 2:  # one record per pair: a pending lock made it the locked record
                d["lock"] = bool(d.get("energy_expire") or d.get("net_expire"))
            dl = Delegation.from_dict(d)
            state.delegations[dl.key] = dl
            state._index(dl.owner, dl.receiver)
        return state
