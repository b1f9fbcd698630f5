"""JSON shapes of accounts, resources and delegations as java-tron prints them (zero fields omitted)."""

from __future__ import annotations

from typing import Any

from devnet import resources
from devnet.accounts import Account, Delegation
from devnet.layers import flat
from devnet.params import ChainParams
from devnet.render import addr_out
from devnet.state import State
from devnet.usdt import Trc20Token

ACTIVE_OPERATIONS = "7fff1fc0033efb0f000000000000000000000000000000000000000000000000"


def _nonzero(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v}


def permissions(acc: Account, visible: bool) -> dict[str, Any]:
    key = [{"address": addr_out(acc.address, visible), "weight": 1}]
    return {
        "owner_permission": {"permission_name": "owner", "threshold": 1, "keys": key},
        "active_permission": [
            {
                "type": "Active",
                "id": 2,
                "permission_name": "active",
                "threshold": 1,
                "operations": ACTIVE_OPERATIONS,
                "keys": key,
            }
        ],
    }


def _ms(slot: int) -> int:
    """A resource slot printed as milliseconds (Wallet.getAccount: genesis + 3 000 * slot; 0 = never)."""
    return slot * resources.SLOT_MS if slot else 0


def account_json(acc: Account, visible: bool, now: int = 0) -> dict[str, Any]:
    """getaccount: usages decayed to the head slot `now` (Wallet.getAccount runs updateUsage), times in ms.

    Without `now` the stored usages are printed as they are.
    """
    out: dict[str, Any] = {"address": addr_out(acc.address, visible)}
    net_used = acc.net_usage(now) if now else acc.net_used
    free_used = acc.free_net_usage(now) if now else acc.free_net_used
    energy_used = acc.energy_usage(now) if now else acc.energy_used
    out.update(
        _nonzero(
            [
                ("balance", acc.balance),
                ("create_time", acc.create_time),
                ("latest_opration_time", acc.latest_operation_time),
                ("net_usage", net_used),
                ("latest_consume_time", _ms(acc.net_time)),
                ("free_net_usage", free_used),
                ("latest_consume_free_time", _ms(acc.free_net_time)),
            ]
        )
    )
    out["net_window_size"] = resources.WINDOW_SIZE
    account_resource = _nonzero(
        [
            ("energy_usage", energy_used),
            ("latest_consume_time_for_energy", _ms(acc.energy_time)),
            ("delegated_frozenV2_balance_for_energy", acc.delegated_energy),
            ("acquired_delegated_frozenV2_balance_for_energy", acc.acquired_energy),
        ]
    )
    account_resource["energy_window_size"] = resources.WINDOW_SIZE
    out["account_resource"] = account_resource
    out.update(permissions(acc, visible))
    out["frozenV2"] = [
        _nonzero([("amount", acc.frozen_net)]),
        {"type": "ENERGY", **_nonzero([("amount", acc.frozen_energy)])},
        {"type": "TRON_POWER"},
    ]
    if acc.unfrozen:
        out["unfrozenV2"] = acc.unfrozen
    out.update(
        _nonzero(
            [
                ("delegated_frozenV2_balance_for_bandwidth", acc.delegated_net),
                ("acquired_delegated_frozenV2_balance_for_bandwidth", acc.acquired_net),
            ]
        )
    )
    return out


def account_net_json(state: State, acc: Account, now: int) -> dict[str, Any]:
    """getaccountnet at head slot `now`: freeNetLimit always present (tronpy indexes it)."""
    p = state.params
    out = _nonzero([("freeNetUsed", acc.free_net_usage(now))])
    out["freeNetLimit"] = p.free_net_limit
    out.update(_nonzero([("NetUsed", acc.net_usage(now)), ("NetLimit", acc.net_limit(p))]))
    out["TotalNetLimit"] = p.total_net_limit
    out["TotalNetWeight"] = p.total_net_weight
    return out


def account_resource_json(state: State, acc: Account, now: int) -> dict[str, Any]:
    """getaccountresource at head slot `now`: usages decayed; EnergyLimit counts own and received stake."""
    p = state.params
    out = account_net_json(state, acc, now)
    out.update(
        _nonzero(
            [
                ("EnergyUsed", acc.energy_usage(now)),
                ("EnergyLimit", acc.energy_limit(p)),
            ]
        )
    )
    out["TotalEnergyLimit"] = p.total_energy_limit
    out["TotalEnergyWeight"] = p.total_energy_weight
    return out


def _delegation_entry(d: Delegation, visible: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"from": addr_out(d.owner, visible), "to": addr_out(d.receiver, visible)}
    entry.update(
        _nonzero(
            [
                ("frozen_balance_for_bandwidth", d.net),
                ("frozen_balance_for_energy", d.energy),
                ("expire_time_for_bandwidth", d.net_expire),
                ("expire_time_for_energy", d.energy_expire),
            ]
        )
    )
    return entry


def delegated_resource_json(state: State, owner: str, receiver: str, visible: bool) -> dict[str, Any]:
    """getdelegatedresourcev2: the unlocked record, then the locked one (Wallet.getDelegatedResourceV2)."""
    records = [d for d in state.delegation_records(owner, receiver) if not d.empty()]
    if not records:
        return {}
    return {"delegatedResource": [_delegation_entry(d, visible) for d in records]}


def delegation_index_json(state: State, addr: str, visible: bool) -> dict[str, Any]:
    to_accounts = sorted(state.delegated_to.get(addr) or ())
    from_accounts = sorted(state.delegated_from.get(addr) or ())
    if not to_accounts and not from_accounts:
        return {}
    out: dict[str, Any] = {"account": addr_out(addr, visible)}
    if from_accounts:
        out["fromAccounts"] = [addr_out(a, visible) for a in from_accounts]
    if to_accounts:
        out["toAccounts"] = [addr_out(a, visible) for a in to_accounts]
    return out


def contract_state_json(token: Trc20Token, params: ChainParams, cycle: int) -> dict[str, Any]:
    """getcontractinfo's contract_state, caught up to the current maintenance cycle (zeros omitted)."""
    usage = token.energy_usage if token.update_cycle == cycle else 0
    factor = token.factor(params.energy_factor, True)
    return _nonzero([("energy_usage", usage), ("energy_factor", factor), ("update_cycle", cycle)])


def debug_json(state: State, acc: Account | None, addr: str, now: int) -> dict[str, Any]:
    """The admin API's one-look summary of an address (works for unactivated ones too)."""
    p = state.params
    tokens = {t.symbol: t.balance_of(addr) for t in flat(state.tokens).values()}
    out: dict[str, Any] = {"address": addr_out(addr, True), "hex": addr, "activated": acc is not None}
    out["tokens"] = tokens
    if acc is None:
        return out
    out.update(
        {
            "balance": acc.balance,
            "energy_limit": acc.energy_limit(p),
            "energy_used": acc.energy_usage(now),
            "energy_available": acc.energy_left(p, now),
            "bandwidth_limit": acc.net_limit(p),
            "free_bandwidth_available": acc.free_net_left(p, now),
            "staked_bandwidth_available": acc.staked_net_left(p, now),
            "frozen_energy": acc.frozen_energy,
            "frozen_bandwidth": acc.frozen_net,
            "delegated_out_energy": acc.delegated_energy,
            "delegated_out_bandwidth": acc.delegated_net,
            "acquired_energy": acc.acquired_energy,
            "acquired_bandwidth": acc.acquired_net,
            "delegations_out": [
                d.to_dict()
                for r in sorted(state.delegated_to.get(addr) or ())
                for d in state.delegation_records(addr, r)
            ],
            "delegations_in": [
                d.to_dict()
                for o in sorted(state.delegated_from.get(addr) or ())
                for d in state.delegation_records(o, addr)
            ],
        }
    )
    return out
