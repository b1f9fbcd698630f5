"""System-contract actuators (java-tron *Actuator.validate/execute) for the contract types the devnet runs.

Each actuator has a `check` (raises ChainError, changes nothing) and an `apply` (mutates state, returns
the extra fee it burned, e.g. the 1 TRX account-creation fee).
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
BLOCK_MS = 3_000  # BLOCK_PRODUCED_INTERVAL
DEFAULT_LOCK_BLOCKS = 86_400  # DELEGATE_PERIOD / BLOCK_PRODUCED_INTERVAL: 3 days of 3 s blocks
DELEGATE_COST_BASE_SIZE = 275  # Parameter.ChainConstant: bytes of a DelegateResource transaction


@dataclass
class Ctx:
    """What an actuator sees: state, head-block time (ms) and resource slot, the owner, its spendable TRX."""

    state: State
    now: int
    slot: int
    owner: Account
    budget: int  # owner's balance minus the fees this transaction already pays
    block_ms: int = BLOCK_MS  # one block of lock_period (the devnet's block interval)
    creating: bool = False  # built by the node's /wallet builders (TransactionCapsule.isTransactionCreate)


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


def check_transfer(ctx: Ctx, value: dict[str, Any]) -> None:
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


def check_freeze(ctx: Ctx, value: dict[str, Any]) -> None:
    amount = _amount(value, "frozen_balance")
    resource_of(value)
    if amount < SUN_PER_TRX:
        raise validate_error("frozenBalance must be more than 1TRX")
    if amount > ctx.budget:
        raise validate_error("frozenBalance must be less than or equal to accountBalance")


def apply_freeze(ctx: Ctx, value: dict[str, Any]) -> int:
    amount = _amount(value, "frozen_balance")
    ctx.owner.balance -= amount
    if resource_of(value) == ENERGY:
        ctx.owner.frozen_energy += amount
    else:
        ctx.owner.frozen_net += amount
    return 0


def check_unfreeze(ctx: Ctx, value: dict[str, Any]) -> None:
    amount = _amount(value, "unfreeze_balance")
    frozen = ctx.owner.frozen_energy if resource_of(value) == ENERGY else ctx.owner.frozen_net
    if amount <= 0 or amount > frozen:
        raise validate_error(f"Invalid unfreeze_balance, [{amount}] is error")


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


def estimate_delegate_bytes(frozen_net: int, params: Any) -> int:
    """TransactionUtil.estimateConsumeBandWidthSize: the bytes a DelegateResource of all stake would use."""
    from devnet.protobuf import varint_size

    locked = (
        2
        + (1 + varint_size(params.max_delegate_lock_period))
        + (1 + varint_size(frozen_net) if frozen_net else 0)
    )
    return DELEGATE_COST_BASE_SIZE + max(locked - (1 + varint_size(SUN_PER_TRX)), 0)


def lock_blocks(value: dict[str, Any]) -> int:
    """getLockPeriod: `lock_period` in blocks, 0 meaning the default 86 400 (3 days of 3 s blocks)."""
    return _amount(value, "lock_period") or DEFAULT_LOCK_BLOCKS


def check_delegate(ctx: Ctx, value: dict[str, Any]) -> None:
    params = ctx.state.params
    resource = resource_of(value)
    amount = _amount(value, "balance")
    if amount < SUN_PER_TRX:
        raise validate_error("delegateBalance must be greater than or equal to 1 TRX")
    if resource == ENERGY:
        if amount > ctx.owner.can_delegate_energy(params, ctx.slot):
            raise validate_error(
                "delegateBalance must be less than or equal to available FreezeEnergyV2 balance"
            )
    else:
        extra = estimate_delegate_bytes(ctx.owner.frozen_net, params) if ctx.creating else 0
        if amount > ctx.owner.can_delegate_net(params, ctx.slot, extra):
            raise validate_error(
                "delegateBalance must be less than or equal to available FreezeBandwidthV2 balance"
            )
    receiver = _to(value, "receiver_address")
    if receiver == ctx.owner.address:
        raise validate_error("receiverAddress must not be the same as ownerAddress")
    if receiver not in ctx.state.accounts:
        raise validate_error(f"Account[{receiver}] not exists")
    if value.get("lock"):
        period = lock_blocks(value)
        if period < 0 or period > params.max_delegate_lock_period:
            raise validate_error(
                f"The lock period of delegate resource cannot be less than 0 and cannot exceed "
                f"{params.max_delegate_lock_period}!"
            )
        locked = ctx.state.delegation(ctx.owner.address, receiver, True)
        if locked is not None:
            remain = locked.expire(resource) - ctx.now
            if period * ctx.block_ms < remain:
                raise validate_error(
                    f"The lock period for {resource} this time cannot be less than the remaining "
                    f"time[{remain}ms] of the last lock period for {resource}!"
                )
    if receiver in ctx.state.tokens:
        raise validate_error("Do not allow delegate resources to contract addresses")


def apply_delegate(ctx: Ctx, value: dict[str, Any]) -> int:
    amount = _amount(value, "balance")
    receiver = ctx.state.accounts[render.hex41(value["receiver_address"])]
    lock = bool(value.get("lock"))
    expire = ctx.now + lock_blocks(value) * ctx.block_ms if lock else 0
    resource = resource_of(value)
    ctx.state.delegate(ctx.owner, receiver, resource, amount, lock=lock, expire_ms=expire, now_ms=ctx.now)
    return 0


def undelegatable(ctx: Ctx, receiver: str, resource: str) -> int:
    """Stake the owner may take back now: the unlocked record plus a locked one whose lock has ended."""
    total = 0
    unlocked = ctx.state.delegation(ctx.owner.address, receiver, False)
    if unlocked is not None:
        total += unlocked.amount(resource)
    locked = ctx.state.delegation(ctx.owner.address, receiver, True)
    if locked is not None and locked.expire(resource) < ctx.now:
        total += locked.amount(resource)
    return total


def check_undelegate(ctx: Ctx, value: dict[str, Any]) -> None:
    resource = resource_of(value)
    receiver = _to(value, "receiver_address")
    if receiver == ctx.owner.address:
        raise validate_error("receiverAddress must not be the same as ownerAddress")
    if not ctx.state.delegation_records(ctx.owner.address, receiver):
        raise validate_error("delegated Resource does not exist")
    amount = _amount(value, "balance")
    if amount <= 0:
        raise validate_error("unDelegateBalance must be more than 0 TRX")
    unlocked = undelegatable(ctx, receiver, resource)
    if amount > unlocked:
        what = "delegateFrozenBalance(Energy)" if resource == ENERGY else "delegatedFrozenBalance(BANDWIDTH)"
        raise validate_error(f"insufficient {what}, request={amount}, unlock_balance={unlocked}")


def apply_undelegate(ctx: Ctx, value: dict[str, Any]) -> int:
    receiver = render.hex41(value["receiver_address"])
    amount = _amount(value, "balance")
    resource = resource_of(value)
    ctx.state.undelegate(ctx.owner, receiver, resource, amount, now_ms=ctx.now, now_slot=ctx.slot)
    return 0


Check = Callable[[Ctx, dict[str, Any]], None]
Apply = Callable[[Ctx, dict[str, Any]], int]

ACTUATORS: dict[str, tuple[Check, Apply]] = {
    "TransferContract": (check_transfer, apply_transfer),
    "FreezeBalanceV2Contract": (check_freeze, apply_freeze),
    "UnfreezeBalanceV2Contract": (check_unfreeze, apply_unfreeze),
    "DelegateResourceContract": (check_delegate, apply_delegate),
    "UnDelegateResourceContract": (check_undelegate, apply_undelegate),
}
