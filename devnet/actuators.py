"""System-contract actuators (java-tron *Actuator.validate/execute) for the contract types the devnet runs.

Each actuator has a `check` (raises ChainError, returns what the tx will reserve from the owner) and an
`apply` (mutates state, returns the extra fee it burned, e.g. the 1 TRX account-creation fee).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devnet import render
from devnet.accounts import BANDWIDTH, ENERGY, Account
from devnet.errors import validate_error
from devnet.state import State

SUN_PER_TRX = 1_000_000
BLOCK_MS = 3_000
DEFAULT_LOCK_BLOCKS = 86_400  # 3 days of 3 s blocks, java-tron's default lock period
_FREEZE_V2 = {ENERGY: "FreezeEnergyV2", BANDWIDTH: "FreezeBandwidthV2"}


@dataclass
class Ctx:
    """What an actuator sees: state, time, the owner, and the TRX it may still spend."""

    state: State
    now: int
    owner: Account
    budget: int  # owner's balance minus fees already planned and pending reservations
    stake_reserved: int = 0  # energy stake promised to pending delegations


@dataclass
class Reservation:
    """TRX and energy stake a pending transaction will take from its owner when mined."""

    trx: int = 0
    stake: int = 0


def resource_of(value: dict[str, Any]) -> str:
    res = value.get("resource", BANDWIDTH)
    if res in (0, BANDWIDTH):
        return BANDWIDTH
    if res in (1, ENERGY):
        return ENERGY
    raise validate_error("ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]")


def _amount(value: dict[str, Any], key: str) -> int:
    amount = value.get(key, 0) or 0
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise validate_error(f"{key} must be an integer")
    return amount


def _to(value: dict[str, Any], key: str) -> str:
    try:
        return render.hex41(value.get(key) or "")
    except ValueError:
        raise validate_error(f"Invalid {key.replace('_address', 'Address')}!") from None


# --- TransferContract ---------------------------------------------------------------------------------


def check_transfer(ctx: Ctx, value: dict[str, Any]) -> Reservation:
    to = _to(value, "to_address")
    amount = _amount(value, "amount")
    if to == ctx.owner.address:
        raise validate_error("Cannot transfer TRX to yourself.")
    if to in ctx.state.tokens:
        raise validate_error("Cannot transfer TRX to a smartContract.")
    if amount <= 0:
        raise validate_error("Amount must be greater than 0.")
    fee = 0 if to in ctx.state.accounts else ctx.state.params.create_new_account_fee_in_system_contract
    if ctx.budget < amount + fee:
        raise validate_error("Validate TransferContract error, balance is not sufficient.")
    return Reservation(trx=amount + fee)


def apply_transfer(ctx: Ctx, value: dict[str, Any]) -> int:
    to = render.hex41(value["to_address"])
    amount = _amount(value, "amount")
    fee = 0
    receiver = ctx.state.account(to)
    if receiver is None:
        fee = ctx.state.params.create_new_account_fee_in_system_contract
        receiver = ctx.state.create_account(to, ctx.now)
    ctx.owner.balance -= amount + fee
    receiver.balance += amount
    return fee


# --- FreezeBalanceV2Contract / UnfreezeBalanceV2Contract -----------------------------------------------


def check_freeze(ctx: Ctx, value: dict[str, Any]) -> Reservation:
    amount = _amount(value, "frozen_balance")
    resource_of(value)
    if amount < SUN_PER_TRX:
        raise validate_error("frozenBalance must be more than 1TRX")
    if amount > ctx.budget:
        raise validate_error("frozenBalance must be less than or equal to accountBalance")
    return Reservation(trx=amount)


def apply_freeze(ctx: Ctx, value: dict[str, Any]) -> int:
    amount = _amount(value, "frozen_balance")
    ctx.owner.balance -= amount
    if resource_of(value) == ENERGY:
        ctx.owner.frozen_energy += amount
    else:
        ctx.owner.frozen_net += amount
    return 0


def check_unfreeze(ctx: Ctx, value: dict[str, Any]) -> Reservation:
    amount = _amount(value, "unfreeze_balance")
    frozen = ctx.owner.frozen_energy if resource_of(value) == ENERGY else ctx.owner.frozen_net
    if amount <= 0 or amount > frozen:
        raise validate_error(f"Invalid unfreeze_balance, [{amount}] is error")
    return Reservation()


def apply_unfreeze(ctx: Ctx, value: dict[str, Any]) -> int:
    amount = _amount(value, "unfreeze_balance")
    resource = resource_of(value)
    owner = ctx.owner
    if resource == ENERGY:
        owner.frozen_energy -= amount
    else:
        owner.frozen_net -= amount
    # java-tron withdraws already-expired unfreezes automatically on the next unfreeze
    due = [u for u in owner.unfrozen if u["unfreeze_expire_time"] <= ctx.now]
    owner.balance += sum(u["unfreeze_amount"] for u in due)
    owner.unfrozen = [u for u in owner.unfrozen if u["unfreeze_expire_time"] > ctx.now]
    delay = ctx.state.params.unfreeze_delay_days * 86_400_000
    entry: dict[str, Any] = {"unfreeze_amount": amount, "unfreeze_expire_time": ctx.now + delay}
    if resource == ENERGY:
        entry["type"] = ENERGY
    if delay == 0:
        owner.balance += amount
    else:
        owner.unfrozen.append(entry)
    return 0


# --- DelegateResourceContract / UnDelegateResourceContract ---------------------------------------------


def check_delegate(ctx: Ctx, value: dict[str, Any]) -> Reservation:
    params = ctx.state.params
    resource = resource_of(value)
    amount = _amount(value, "balance")
    receiver = _to(value, "receiver_address")
    if amount < SUN_PER_TRX:
        raise validate_error("delegateBalance must be greater than or equal to 1 TRX")
    if receiver == ctx.owner.address:
        raise validate_error("receiverAddress must not be the same as ownerAddress")
    if receiver not in ctx.state.accounts:
        raise validate_error(f"Account[{receiver}] not exists")
    if resource == ENERGY:
        available = ctx.owner.can_delegate_energy(params, ctx.now) - ctx.stake_reserved
        if amount > available:
            raise validate_error(
                "delegateBalance must be less than or equal to available FreezeEnergyV2 balance"
            )
    elif amount > ctx.owner.can_delegate_net(params, ctx.now):
        raise validate_error(
            "delegateBalance must be less than or equal to available FreezeBandwidthV2 balance"
        )
    lock_period = _amount(value, "lock_period")
    if lock_period < 0 or lock_period > params.max_delegate_lock_period:
        raise validate_error(
            f"The lock period of delegate resource cannot be less than 0 and cannot exceed "
            f"{params.max_delegate_lock_period}!"
        )
    return Reservation(stake=amount if resource == ENERGY else 0)


def apply_delegate(ctx: Ctx, value: dict[str, Any]) -> int:
    amount = _amount(value, "balance")
    receiver = ctx.state.accounts[render.hex41(value["receiver_address"])]
    expire = 0
    if value.get("lock"):
        blocks = _amount(value, "lock_period") or DEFAULT_LOCK_BLOCKS
        expire = ctx.now + blocks * BLOCK_MS
    ctx.state.delegate(ctx.owner, receiver, resource_of(value), amount, expire)
    return 0


def check_undelegate(ctx: Ctx, value: dict[str, Any]) -> Reservation:
    resource = resource_of(value)
    amount = _amount(value, "balance")
    receiver = _to(value, "receiver_address")
    if amount <= 0:
        raise validate_error("unDelegateBalance must be more than 0 TRX")
    d = ctx.state.delegation(ctx.owner.address, receiver)
    delegated = d.amount(resource) if d else 0
    expire = (d.energy_expire if resource == ENERGY else d.net_expire) if d else 0
    unlocked = delegated if expire <= ctx.now else 0
    if amount > unlocked:
        name = "Energy" if resource == ENERGY else "Bandwidth"
        raise validate_error(
            f"insufficient delegatedFrozenBalance({name}), request={amount}, unlock_balance={unlocked}"
        )
    return Reservation()


def apply_undelegate(ctx: Ctx, value: dict[str, Any]) -> int:
    receiver = render.hex41(value["receiver_address"])
    ctx.state.undelegate(ctx.owner, receiver, resource_of(value), _amount(value, "balance"), ctx.now)
    return 0


Check = Callable[[Ctx, dict[str, Any]], Reservation]
Apply = Callable[[Ctx, dict[str, Any]], int]

ACTUATORS: dict[str, tuple[Check, Apply]] = {
    "TransferContract": (check_transfer, apply_transfer),
    "FreezeBalanceV2Contract": (check_freeze, apply_freeze),
    "UnfreezeBalanceV2Contract": (check_unfreeze, apply_unfreeze),
    "DelegateResourceContract": (check_delegate, apply_delegate),
    "UnDelegateResourceContract": (check_undelegate, apply_undelegate),
}
