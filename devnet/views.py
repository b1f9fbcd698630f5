"""JSON shapes of accounts, resources and delegations as java-tron prints them (zero fields omitted)."""

from __future__ import annotations

from typing import Any

from devnet import resources
from devnet.accounts import Account
from devnet.render import addr_out
from devnet.state import State

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


def account_json(acc: Account, visible: bool) -> dict[str, Any]:
    """getaccount: stored (undecayed) usages and times, permissions, frozenV2 with all three codes."""
    out: dict[str, Any] = {"address": addr_out(acc.address, visible)}
    out.update(
        _nonzero(
            [
                ("balance", acc.balance),
                ("create_time", acc.create_time),
                ("latest_opration_time", acc.latest_operation_time),
                ("net_usage", acc.net_used),
                ("latest_consume_time", acc.net_time),
                ("free_net_usage", acc.free_net_used),
                ("latest_consume_free_time", acc.free_net_time),
            ]
        )
    )
    out["net_window_size"] = resources.WINDOW_SIZE
    account_resource = _nonzero(
        [
            ("energy_usage", acc.energy_used),
            ("latest_consume_time_for_energy", acc.energy_time),
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
    """getaccountnet: freeNetLimit always present (tronpy indexes it)."""
    p = state.params
    out = _nonzero([("freeNetUsed", acc.free_net_usage(now))])
    out["freeNetLimit"] = p.free_net_limit
    out.update(_nonzero([("NetUsed", acc.net_usage(now)), ("NetLimit", acc.net_limit(p))]))
    out["TotalNetLimit"] = p.total_net_limit
    out["TotalNetWeight"] = p.total_net_weight
    return out


def account_resource_json(state: State, acc: Account, now: int) -> dict[str, Any]:
    """getaccountresource: usages already decayed; EnergyLimit counts own and delegated-in stake."""
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


def delegated_resource_json(state: State, owner: str, receiver: str, visible: bool) -> dict[str, Any]:
    d = state.delegation(owner, receiver)
    if d is None:
        return {}
    entry: dict[str, Any] = {"from": addr_out(owner, visible), "to": addr_out(receiver, visible)}
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
    return {"delegatedResource": [entry]}


def delegation_index_json(state: State, addr: str, visible: bool) -> dict[str, Any]:
    to_accounts = sorted(state.delegated_to.get(addr, ()))
    from_accounts = sorted(state.delegated_from.get(addr, ()))
    if not to_accounts and not from_accounts:
        return {}
    out: dict[str, Any] = {"account": addr_out(addr, visible)}
    if from_accounts:
        out["fromAccounts"] = [addr_out(a, visible) for a in from_accounts]
    if to_accounts:
        out["toAccounts"] = [addr_out(a, visible) for a in to_accounts]
    return out


def debug_json(state: State, acc: Account | None, addr: str, now: int) -> dict[str, Any]:
    """The admin API's one-look summary of an address (works for unactivated ones too)."""
    p = state.params
    tokens = {t.symbol: t.balance_of(addr) for t in state.tokens.values()}
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
            "free_bandwidth_available": acc.free_net_left(p, now),
            "staked_bandwidth_available": acc.staked_net_left(p, now),
            "frozen_energy": acc.frozen_energy,
            "frozen_bandwidth": acc.frozen_net,
            "delegated_out_energy": acc.delegated_energy,
            "acquired_energy": acc.acquired_energy,
            "delegations_out": [
                state.delegations[(addr, r)].to_dict() for r in sorted(state.delegated_to.get(addr, ()))
            ],
            "delegations_in": [
                state.delegations[(o, addr)].to_dict() for o in sorted(state.delegated_from.get(addr, ()))
            ],
        }
    )
    return out
