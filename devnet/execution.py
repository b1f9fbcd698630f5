"""Running one transaction against the state: fee waterfall, actuator or TVM call, and its receipt.

`admit` is the dry run done at broadcast (java-tron's pending-pool check); `execute` runs it for real
when the block is produced and returns the mined record with its TransactionInfo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devnet import render, resources
from devnet.actuators import ACTUATORS, Ctx, Reservation
from devnet.blocks import TxRecord
from devnet.errors import ChainError, validate_error
from devnet.resources import BandwidthCharge
from devnet.state import State
from devnet.usdt import REVERT_ENERGY, VmResult

TRIGGER = "TriggerSmartContract"


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
    reservation: Reservation = field(default_factory=Reservation)


@dataclass
class _Plan:
    ctx: Ctx
    bandwidth: BandwidthCharge
    fixed_fee: int  # memo + multi-signature fees


def _plan(state: State, tx: Tx, now: int, reserved: Reservation) -> _Plan:
    owner = state.account(tx.owner)
    if owner is None:
        raise validate_error(f"account [{render.b58(tx.owner)}] does not exist")
    available = owner.balance - reserved.trx
    if tx.system and not tx.fees:
        return _Plan(Ctx(state, now, owner, available, reserved.stake), BandwidthCharge("free"), 0)
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
        staked_left=owner.staked_net_left(params, now),
        free_left=owner.free_net_left(params, now),
        balance=available,
        params=params,
    )
    fixed = (params.memo_fee if tx.raw.get("data") else 0) + (
        params.multi_sign_fee if len(tx.signatures) > 1 else 0
    )
    budget = available - bw.net_fee - fixed
    if budget < 0:
        raise validate_error("Validate TransferContract error, balance is not sufficient.")
    return _Plan(Ctx(state, now, owner, budget, reserved.stake), bw, fixed)


def _check_trigger(ctx: Ctx, tx: Tx) -> Reservation:
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
    return Reservation()


def _check(plan: _Plan, tx: Tx) -> Reservation:
    if tx.ctype == TRIGGER:
        return _check_trigger(plan.ctx, tx)
    actuator = ACTUATORS.get(tx.ctype)
    if actuator is None:
        raise validate_error(f"contract type {tx.ctype} is not supported by the devnet")
    return actuator[0](plan.ctx, tx.value)


def admit(state: State, tx: Tx, now: int, reserved: Reservation) -> Reservation:
    """Validate without changing anything; returns what the tx reserves while pending."""
    if tx.recorded:
        return Reservation()
    plan = _plan(state, tx, now, reserved)
    res = _check(plan, tx)
    fees = plan.bandwidth.net_fee + plan.fixed_fee
    return Reservation(trx=res.trx + fees, stake=res.stake)


def _run_vm(ctx: Ctx, tx: Tx, receipt: dict[str, Any], info: dict[str, Any]) -> tuple[str, int, int]:
    """Call the contract within the caller's energy limit; returns (contractRet, sun burned, penalty)."""
    state, owner, now = ctx.state, ctx.owner, ctx.now
    params = state.params
    contract_hex = render.hex41(tx.value["contract_address"])
    token = state.tokens[contract_hex]
    info["contract_address"] = contract_hex
    energy_left = owner.energy_left(params, now)
    limit = resources.caller_energy_limit(
        energy_left, owner.balance, tx.raw.get("fee_limit", 0) or 0, params.energy_fee
    )
    result = token.call(owner.address, tx.value.get("data") or "")
    if tx.value.get("call_value"):
        result = VmResult("REVERT", *REVERT_ENERGY)  # USDT is not payable
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
    owner.use_energy(charge.from_stake, now)
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


def execute(state: State, tx: Tx, number: int, timestamp: int) -> TxRecord:
    """Run the tx in a block being produced; ChainError means it no longer validates and is dropped."""
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
        plan = _plan(state, tx, timestamp, Reservation())
        _check(plan, tx)
        ctx, bw, owner = plan.ctx, plan.bandwidth, plan.ctx.owner
        if bw.source == "staked":
            owner.use_net(bw.net_usage, timestamp)
        elif bw.source == "free":
            owner.use_free_net(bw.net_usage, timestamp)
        owner.balance -= bw.net_fee + plan.fixed_fee
        owner.latest_operation_time = timestamp
        fee = bw.net_fee + plan.fixed_fee
        if tx.ctype == TRIGGER:
            contract_ret, burned, penalty = _run_vm(ctx, tx, receipt, body)
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
    info["blockNumber"] = number
    info["blockTimeStamp"] = timestamp
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
