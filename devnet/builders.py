"""Transactions built by the node (`/wallet/createtransaction`, `triggersmartcontract`, Stake 2.0 builders).

java-tron's `Wallet.createTransactionCapsule` validates the system contract's actuator (with
`isTransactionCreate`, which makes a bandwidth delegation count its own bytes), then references the
head block and sets `expiration = head block time + 60 s` and `timestamp = now` (`setTransaction`).
`triggersmartcontract` skips actuator validation and only needs the contract to exist
(`Wallet.triggerContract`). Answers are the servlets' shapes: a Transaction printed with `visible`,
`txID`, `raw_data`, `raw_data_hex` (`Util.printCreateTransaction`), or for triggersmartcontract a
TransactionExtention `{"result": {"result": true}, "transaction": …}`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from devnet import protobuf, render
from devnet.chain import Chain
from devnet.crypto import selector
from devnet.errors import ChainError
from devnet.execution import Tx, validate

DEFAULT_EXPIRATION_MS = 60_000  # java-tron node.trxExpirationTimeInMilliseconds default
VALIDATE_PREFIX = "Contract validate error : "

# builder endpoint -> (contract type, the value's fields: address fields first)
SYSTEM_BUILDERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "createtransaction": ("TransferContract", ("owner_address", "to_address"), ("amount",)),
    "freezebalancev2": ("FreezeBalanceV2Contract", ("owner_address",), ("frozen_balance", "resource")),
    "unfreezebalancev2": ("UnfreezeBalanceV2Contract", ("owner_address",), ("unfreeze_balance", "resource")),
    "delegateresource": (
        "DelegateResourceContract",
        ("owner_address", "receiver_address"),
        ("resource", "balance", "lock", "lock_period"),
    ),
    "undelegateresource": (
        "UnDelegateResourceContract",
        ("owner_address", "receiver_address"),
        ("resource", "balance"),
    ),
}
_MISSING_OWNER = {
    "TransferContract": "Validate TransferContract error, no OwnerAccount.",
    "UnDelegateResourceContract": "Account[{hex}] does not exist",
}


class BuildError(Exception):
    """A request the builder refuses; `java_class` and the text are what the servlet prints."""

    def __init__(self, message: str, java_class: str = "org.tron.core.exception.ContractValidateException"):
        super().__init__(message)
        self.java_class = java_class


def _default(value: Any) -> bool:
    return value in (None, 0, False, "", "BANDWIDTH")


def _value(body: dict[str, Any], addresses: tuple[str, ...], fields: tuple[str, ...]) -> dict[str, Any]:
    """The contract value in the stored (hex) dialect; proto3 defaults left out, as java-tron prints."""
    out: dict[str, Any] = {}
    for key in addresses:
        raw = body.get(key)
        if not raw:
            continue
        try:
            out[key] = render.hex41(str(raw))
        except ValueError:
            raise BuildError(f"Invalid {key.replace('_address', 'Address')}!") from None
    for key in fields:
        value = body.get(key)
        if _default(value):
            continue
        if key == "resource":
            if value not in ("ENERGY", "TRON_POWER", 1, 2):
                raise BuildError("ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]")
            out[key] = {1: "ENERGY", 2: "TRON_POWER"}.get(value, value)
        elif key == "lock":
            out[key] = bool(value)
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise BuildError(f"{key} must be an integer", "java.lang.NumberFormatException")
            out[key] = value
    return out


def _transaction(
    chain: Chain, ctype: str, value: dict[str, Any], body: dict[str, Any], fee_limit: int = 0
) -> dict[str, Any]:
    head = chain.head_block()
    contract: dict[str, Any] = {
        "parameter": {"value": value, "type_url": f"type.googleapis.com/protocol.{ctype}"},
        "type": ctype,
    }
    permission = body.get("Permission_id")
    if isinstance(permission, int) and not isinstance(permission, bool) and permission:
        contract["Permission_id"] = permission
    raw: dict[str, Any] = {
        "contract": [contract],
        "ref_block_bytes": head.block_id[12:16],
        "ref_block_hash": head.block_id[16:32],
        "expiration": head.timestamp + DEFAULT_EXPIRATION_MS,
        "timestamp": chain.now_ms(),
    }
    if fee_limit:
        raw["fee_limit"] = fee_limit
    raw_bytes = protobuf.encode_raw(raw)
    return {"raw": raw, "raw_hex": raw_bytes.hex(), "txid": hashlib.sha256(raw_bytes).hexdigest()}


def printed(built: dict[str, Any], visible: bool) -> dict[str, Any]:
    """Util.printCreateTransaction: the unsigned transaction with `visible`."""
    return {
        "visible": visible,
        "txID": built["txid"],
        "raw_data": render.raw_out(built["raw"], visible),
        "raw_data_hex": built["raw_hex"],
    }


def build_system(chain: Chain, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """A validated system-contract transaction; BuildError on a refusal."""
    ctype, addresses, fields = SYSTEM_BUILDERS[endpoint]
    value = _value(body, addresses, fields)
    owner = value.get("owner_address")
    if not owner:
        raise BuildError("Invalid ownerAddress!")
    built = _transaction(chain, ctype, value, body)
    tx = Tx(
        txid=built["txid"],
        raw=built["raw"],
        raw_hex=built["raw_hex"],
        signatures=[],
        ctype=ctype,
        value=value,
        owner=owner,
        nbytes=0,
        expiration=built["raw"]["expiration"],
        system=True,  # validate the actuator only: the builder charges no bandwidth
    )
    with chain.lock:
        state, clock = chain.view()
        if state.peek_account(owner) is None:
            raise BuildError(_MISSING_OWNER.get(ctype, "Account[{hex}] not exists").format(hex=owner))
        try:
            validate(state, tx, clock, creating=True)
        except ChainError as exc:
            raise BuildError(exc.message.removeprefix(VALIDATE_PREFIX)) from None
    return built


def build_trigger(chain: Chain, body: dict[str, Any]) -> dict[str, Any]:
    """TriggerSmartContractServlet: the unsigned TriggerSmartContract transaction for `body`."""
    if not body.get("owner_address"):
        raise BuildError("owner_address isn't set.", "java.security.InvalidParameterException")
    if not body.get("contract_address"):
        raise BuildError("contract_address isn't set.", "java.security.InvalidParameterException")
    value = _value(
        body, ("owner_address", "contract_address"), ("call_value", "call_token_value", "token_id")
    )
    function = str(body.get("function_selector") or "").replace(" ", "")
    data = str(body.get("data") or "")
    if function:
        data = selector(function) + str(body.get("parameter") or "")
    if data:
        try:
            bytes.fromhex(data)
        except ValueError:
            raise BuildError("data is not hex", "java.lang.IllegalArgumentException") from None
        value = {**value, "data": data.lower()}
    ordered = {k: value[k] for k in ("owner_address", "contract_address", "call_value", "data") if k in value}
    ordered.update({k: v for k, v in value.items() if k not in ordered})
    fee_limit = body.get("fee_limit", 0) or 0
    if isinstance(fee_limit, bool) or not isinstance(fee_limit, int):
        raise BuildError("fee_limit must be an integer", "java.lang.NumberFormatException")
    with chain.lock:
        state, _ = chain.view()
        if state.peek_token(ordered["contract_address"]) is None:
            raise BuildError("No contract or not a valid smart contract")
    return _transaction(chain, "TriggerSmartContract", ordered, body, fee_limit)
