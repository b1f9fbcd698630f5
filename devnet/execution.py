"""Running one transaction against a state: fee waterfall, actuator or TVM call, and its receipt.

The chain runs every accepted transaction twice, as java-tron does: at broadcast on the pending state
(`Manager.pushTransaction`, so a refusal is answered at once and the next transaction sees what this
one used), and again in the block. Both runs see the same head block (`Clock`), so they agree. Every
check happens before the first change, so a `ChainError` leaves the state untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devnet import render, resources
from devnet.actuators import ACTUATORS, Ctx
from devnet.blocks import TxRecord
from devnet.errors import ChainError, bandwidth_error, validate_error
from devnet.resources import BandwidthCharge
from devnet.state import State
from devnet.usdt import REVERT_COST, VmResult

TRIGGER = "TriggerSmartContract"


@dataclass(frozen=True)
class Clock:
    """When a transaction runs: the head block's time (ms) and the block it goes into.

    java-tron executes a block's transactions while its parent is still the head, so resource
    recovery, lock expiries and account creation times are all measured at the parent's timestamp.
    """

    head_ms: int
    number: int = 0
    block_ms: int = 0
    cycle: int = 0
    interval_ms: int = resources.SLOT_MS  # the chain's block interval (lock_period counts these)

    @property
    def slot(self) -> int:
        return resources.slot_of(self.head_ms)


@dataclass
class Tx:
    """A transaction waiting in the pending pool (raw_data in the hex dialect)."""

    txid: str
    raw: dict[str, Any]
    raw_hex: str
    signatures: list[str]
    ctype: str
    value: dict[str, Any]
    owner: str
    nbytes: int  # bandwidth bytes: serialized size + 64
    expiration: int
    system: bool = False  # made by the devnet itself (admin/providers): no signature, no TaPoS
    fees: bool = False  # system txs pay no fees unless this is set (transfer_trx)
    recorded: bool = False  # effects already applied (fund, mint): mining only records it
    logs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Plan:
    ctx: Ctx
    bandwidth: BandwidthCharge
    fixed_fee: int  # memo + multi-signature fees


def _plan(state: State, tx: Tx, clock: Clock) -> _Plan:
    owner = state.account(tx.owner)
    if owner is None:
        raise validate_error(f"account [{render.b58(tx.owner)}] does not exist")
    if tx.system and not tx.fees:
        ctx = Ctx(state, clock.head_ms, clock.slot, owner, owner.balance, clock.interval_ms)
        return _Plan(ctx, BandwidthCharge("free"), 0)
    creates = False
    if tx.ctype == "TransferContract":
        try:
            creates = render.hex41(tx.value.get("to_address") or "") not in state.accounts
        except ValueError:
            creates = False
    params = state.params
    bw = resources.plan_bandwidth(
        nbytes=tx.nbytes,
        creates_account=creates,
        staked_left=owner.staked_net_left(params, clock.slot),
        free_left=owner.free_net_left(params, clock.slot),
        balance=owner.balance,
        params=params,
    )
    left = owner.balance - bw.net_fee
    fixed = 0
    # Manager.consumeMultiSignFee, then consumeMemoFee: a balance that cannot pay is BANDWITH_ERROR
    for fee in (
        params.multi_sign_fee if len(tx.signatures) > 1 else 0,
        params.memo_fee if tx.raw.get("data") else 0,
    ):
        if fee > left:
            raise bandwidth_error()
        left -= fee
        fixed += fee
    return _Plan(Ctx(state, clock.head_ms, clock.slot, owner, left, clock.interval_ms), bw, fixed)


def _check_trigger(ctx: Ctx, tx: Tx) -> None:
    contract = tx.value.get("contract_address") or ""
    try:
        contract_hex = render.hex41(contract)
    except ValueError:
        raise validate_error("No contract or not a smart contract") from None
    if contract_hex not in ctx.state.tokens:
        raise validate_error("No contract or not a smart contract")
    fee_limit = tx.raw.get("fee_limit", 0) or 0
    max_fee = ctx.state.params.max_fee_limit
    if not isinstance(fee_limit, int) or fee_limit < 0 or fee_limit > max_fee:
        raise validate_error(f"feeLimit must be >= 0 and <= {max_fee}")
    call_value = tx.value.get("call_value", 0) or 0
    if call_value < 0 or call_value > ctx.budget:
        raise validate_error("Validate InternalTransfer error, balance is not sufficient.")


def _check(plan: _Plan, tx: Tx) -> None:
    if tx.ctype == TRIGGER:
        _check_trigger(plan.ctx, tx)
        return
    actuator = ACTUATORS.get(tx.ctype)
    if actuator is None:
        raise validate_error(f"contract type {tx.ctype} is not supported by the devnet")
    actuator[0](plan.ctx, tx.value)


def validate(state: State, tx: Tx, clock: Clock, *, creating: bool = False) -> None:
    """Only the actuator's checks, as the node's transaction builders run them; nothing changes."""
    plan = _plan(state, tx, clock)
    plan.ctx.creating = creating
    _check(plan, tx)


def contract_factor(state: State, contract_hex: str) -> int:
    """The energy_factor a call to the contract is charged at now (0 with dynamic energy off)."""
    params = state.params
    return state.tokens[contract_hex].factor(params.energy_factor, params.allow_dynamic_energy == 1)


def contract_call(state: State, caller: str, contract_hex: str, data: str) -> VmResult:
    """A call's outcome at the contract's current energy_factor (no state change until `apply`)."""
    return state.tokens[contract_hex].call(caller, data, contract_factor(state, contract_hex))


def _run_vm(
    ctx: Ctx, tx: Tx, clock: Clock, receipt: dict[str, Any], info: dict[str, Any]
) -> tuple[str, int, int]:
    """Call the contract within the caller's energy limit; returns (contractRet, sun burned, penalty)."""
    state, owner = ctx.state, ctx.owner
    params = state.params
    contract_hex = render.hex41(tx.value["contract_address"])
    info["contract_address"] = contract_hex
    call_value = tx.value.get("call_value", 0) or 0
    energy_left = owner.energy_left(params, ctx.slot)
    limit = resources.caller_energy_limit(
        energy_left, owner.balance - call_value, tx.raw.get("fee_limit", 0) or 0, params.energy_fee
    )
    if call_value:  # the devnet's TRC20 contracts are not payable
        factor = contract_factor(state, contract_hex)
        result = VmResult("REVERT", REVERT_COST.base, REVERT_COST.penalty(factor))
    else:
        result = contract_call(state, owner.address, contract_hex, tx.value.get("data") or "")
    need = result.energy_total
    if need > limit:
        status, used = "OUT_OF_ENERGY", limit
        penalty = result.penalty * limit // need if need else 0
        info["contractResult"] = [""]
        info["resMessage"] = (
            "Not enough energy for 'SSTORE' operation executing: "
            f"curInvokeEnergyLimit[{limit}], curOpEnergy[{need - limit}], "
            f"penaltyEnergy[{result.penalty - penalty}], usedEnergy[{limit}]"
        )
    else:
        status, used, penalty = result.status, need, result.penalty
        state.tokens[contract_hex].record_usage(result.energy, clock.cycle)
        if status == "SUCCESS":
            info["contractResult"] = [result.output]
            if result.apply is not None:
                result.apply()
            if result.logs:
                info["log"] = result.logs
        else:
            info["contractResult"] = [""]
            info["resMessage"] = "REVERT opcode executed"
    charge = resources.split_energy(used, energy_left, params.energy_fee)
    owner.use_energy(charge.from_stake, ctx.slot)
    owner.balance -= charge.burned_sun
    if charge.from_stake:
        receipt["energy_usage"] = charge.from_stake
    if charge.burned_sun:
        receipt["energy_fee"] = charge.burned_sun
    if used:
        receipt["energy_usage_total"] = used
    if status != "SUCCESS":
        info["result"] = "FAILED"
    return status, charge.burned_sun, penalty


def execute(state: State, tx: Tx, clock: Clock) -> TxRecord:
    """Run the tx on `state`; ChainError (raised before any change) means it does not validate."""
    info: dict[str, Any] = {"id": tx.txid}
    receipt: dict[str, Any] = {}
    fee, contract_ret, penalty = 0, "SUCCESS", 0
    body: dict[str, Any] = {"contractResult": [""]}
    if tx.recorded:
        if tx.logs:
            body["contract_address"] = tx.value.get("contract_address")
            receipt["result"] = "SUCCESS"
            body["log"] = tx.logs
    else:
        plan = _plan(state, tx, clock)
        _check(plan, tx)
        ctx, bw, owner = plan.ctx, plan.bandwidth, plan.ctx.owner
        if bw.source == "staked":
            owner.use_net(bw.net_usage, clock.slot)
        elif bw.source == "free":
            owner.use_free_net(bw.net_usage, clock.slot)
        owner.balance -= bw.net_fee + plan.fixed_fee
        owner.latest_operation_time = clock.head_ms
        fee = bw.net_fee + plan.fixed_fee
        if tx.ctype == TRIGGER:
            contract_ret, burned, penalty = _run_vm(ctx, tx, clock, receipt, body)
            fee += burned
        else:
            fee += ACTUATORS[tx.ctype][1](ctx, tx.value)
        if bw.net_usage:
            receipt["net_usage"] = bw.net_usage
        if bw.net_fee:
            receipt["net_fee"] = bw.net_fee
        if tx.ctype == TRIGGER:
            receipt["result"] = contract_ret
            if penalty:
                receipt["energy_penalty_total"] = penalty
    if fee:
        info["fee"] = fee
    info["blockNumber"] = clock.number
    info["blockTimeStamp"] = clock.block_ms
    info["contractResult"] = body.pop("contractResult")
    if "contract_address" in body:
        info["contract_address"] = body.pop("contract_address")
    info["receipt"] = _ordered_receipt(receipt)
    info.update(body)  # log, result, resMessage in java-tron's field order
    return TxRecord(tx.txid, tx.raw, tx.raw_hex, tx.signatures, contract_ret, _ordered_info(info))


_RECEIPT_ORDER = (
    "energy_usage",
    "energy_fee",
    "origin_energy_usage",
    "energy_usage_total",
    "net_usage",
    "net_fee",
    "result",
    "energy_penalty_total",
)
_INFO_ORDER = (
    "id",
    "fee",
    "blockNumber",
    "blockTimeStamp",
    "contractResult",
    "contract_address",
    "receipt",
    "log",
    "result",
    "resMessage",
)


def _ordered_receipt(receipt: dict[str, Any]) -> dict[str, Any]:
    return {k: receipt[k] for k in _RECEIPT_ORDER if k in receipt}


def _ordered_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: info[k] for k in _INFO_ORDER if k in info}


def drop_reason(exc: ChainError) -> str:
    return f"{exc.code}: {exc.message}"
