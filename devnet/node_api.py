"""The TRON full-node HTTP API tronpy talks to: `/wallet/*` and the `/walletsolidity/*` twins.

Application errors are HTTP 200 JSON in java-tron's shapes (tronpy raises on any non-2xx). Handlers are
quick in-memory operations under the chain lock, so they run directly on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devnet import builders, render, views
from devnet.actuators import estimate_delegate_bytes
from devnet.blocks import Block
from devnet.builders import BuildError
from devnet.chain import Chain
from devnet.crypto import selector
from devnet.errors import ChainError
from devnet.faults import Faults
from devnet.usdt import SEL, ZERO_HEX, contract_json

BLOCK_LIMIT = 100
JSON = "application/json"
SUN_PER_TRX = 1_000_000
CONSTANT_SELECTORS = frozenset(v for k, v in SEL.items() if not k.startswith(("transfer(", "issue(")))


@dataclass
class Call:
    """One request's parameters and whether it came in on the solidity twin."""

    data: dict[str, Any]
    solid: bool

    @property
    def visible(self) -> bool:
        v = self.data.get("visible", False)
        return v is True or str(v).lower() == "true"

    def address(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{key} is required")
        return render.hex41(value)

    def integer(self, key: str, default: int = 0) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool):
            raise ValueError(f"{key} must be an integer")
        return int(value)


Result = dict[str, Any] | list[Any] | bytes
Handler = Callable[[Call], Result]


@lru_cache(maxsize=1024)
def _selector(signature: str) -> str:
    return selector(signature)


class NodeApi:
    """Handlers for the node endpoints, bound to one chain."""

    def __init__(self, chain: Chain, faults: Faults) -> None:
        self.chain = chain
        self.faults = faults

    # --- node and blocks ------------------------------------------------------------------------------

    def getnodeinfo(self, c: Call) -> Result:
        with self.chain.lock:
            head, solid = self.chain.head_block(), self.chain.solid_block()
        return {
            "beginSyncNum": head.number,
            "block": f"Num:{head.number},ID:{head.block_id}",
            "solidityBlock": f"Num:{solid.number},ID:{solid.block_id}",
            "currentConnectCount": 0,
            "activeConnectCount": 0,
            "passiveConnectCount": 0,
            "totalFlow": 0,
            "peerList": [],
            "configNodeInfo": {
                "codeVersion": "4.8.0-devnet",
                "p2pVersion": "devnet",
                "supportConstant": True,
            },
            "machineInfo": {"threadCount": 0, "cpuCount": 0},
        }

    def getnowblock(self, c: Call) -> Result:
        block = self.chain.solid_block() if c.solid else self.chain.head_block()
        return block.json_bytes(c.visible)

    def getblockbynum(self, c: Call) -> Result:
        block = self.chain.block(c.integer("num"), solid=c.solid)
        return block.json_bytes(c.visible) if block else {}

    def getblockbyid(self, c: Call) -> Result:
        block = self.chain.block_by_id(str(c.data.get("value", "")), solid=c.solid)
        return block.json_bytes(c.visible) if block else {}

    def getblock(self, c: Call) -> Result:
        """Wallet.getBlock: `id_or_num` (a number or a block id; none = the head), `detail` for its txs."""
        key = str(c.data.get("id_or_num") or "").strip()
        detail = c.data.get("detail") is True or str(c.data.get("detail")).lower() == "true"
        block: Block | None
        if not key:
            block = self.chain.solid_block() if c.solid else self.chain.head_block()
        elif key.lstrip("-").isdigit():
            num = int(key)
            if num < 0:
                return {"Error": "num must be non-positive number."}
            block = self.chain.block(num, solid=c.solid)
        else:
            if len(key) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in key):
                return {"Error": "id must be legal block hash."}
            block = self.chain.block_by_id(key, solid=c.solid)
        if block is None:
            return {}
        return block.json_bytes(c.visible) if detail or not block.txs else block.header_bytes(c.visible)

    def _blocks(self, start: int, end: int, c: Call) -> Result:
        if start < 0 or end <= start or end - start > BLOCK_LIMIT:
            return {}
        with self.chain.lock:
            found = [b for n in range(start, end) if (b := self.chain.block(n, solid=c.solid)) is not None]
        if not found:
            return {}
        return b'{"block":[' + b",".join(b.json_bytes(c.visible) for b in found) + b"]}"

    def getblockbylimitnext(self, c: Call) -> Result:
        return self._blocks(c.integer("startNum"), c.integer("endNum"), c)

    def getblockbylatestnum(self, c: Call) -> Result:
        count = c.integer("num")
        if count <= 0 or count >= BLOCK_LIMIT:
            return {}
        top = self.chain.solid_number() if c.solid else self.chain.head_number()
        return self._blocks(max(top - count + 1, 0), top + 1, c)

    def gettransactionbyid(self, c: Call) -> Result:
        rec = self.chain.tx_record(str(c.data.get("value", "")), solid=c.solid)
        return rec.json(c.visible) if rec else {}

    def gettransactioninfobyid(self, c: Call) -> Result:
        rec = self.chain.tx_record(str(c.data.get("value", "")), solid=c.solid)
        return render.info_out(rec.info, c.visible) if rec else {}

    def gettransactioninfobyblocknum(self, c: Call) -> Result:
        block = self.chain.block(c.integer("num"), solid=c.solid)
        return block.infos_bytes(c.visible) if block else []

    def getchainparameters(self, c: Call) -> Result:
        with self.chain.lock:
            return {"chainParameter": self.chain.state.params.chain_parameters()}

    def getenergyprices(self, c: Call) -> Result:
        return {"prices": f"0:{self.chain.state.params.energy_fee}"}

    def getbandwidthprices(self, c: Call) -> Result:
        return {"prices": f"0:{self.chain.state.params.transaction_fee}"}

    # --- accounts and resources -----------------------------------------------------------------------

    def getaccount(self, c: Call) -> Result:
        addr = c.address("address")
        with self.chain.lock:
            state, clock = self.chain.view(c.solid)
            acc = state.peek_account(addr)
            return views.account_json(acc, c.visible, clock.slot) if acc else {}

    def getaccountresource(self, c: Call) -> Result:
        addr = c.address("address")
        with self.chain.lock:
            state, clock = self.chain.view(c.solid)
            acc = state.peek_account(addr)
            return views.account_resource_json(state, acc, clock.slot) if acc else {}

    def getaccountnet(self, c: Call) -> Result:
        addr = c.address("address")
        with self.chain.lock:
            state, clock = self.chain.view(c.solid)
            acc = state.peek_account(addr)
            return views.account_net_json(state, acc, clock.slot) if acc else {}

    def getdelegatedresourcev2(self, c: Call) -> Result:
        owner, receiver = c.address("fromAddress"), c.address("toAddress")
        with self.chain.lock:
            state, _ = self.chain.view(c.solid)
            return views.delegated_resource_json(state, owner, receiver, c.visible)

    def getdelegatedresourceaccountindexv2(self, c: Call) -> Result:
        addr = c.address("value")
        with self.chain.lock:
            state, _ = self.chain.view(c.solid)
            return views.delegation_index_json(state, addr, c.visible)

    def getcandelegatedmaxsize(self, c: Call) -> Result:
        """Wallet.getCanDelegatedMaxSize: under 1 TRX answers 0 (printed as `{}`)."""
        addr = c.address("owner_address")
        with self.chain.lock:
            state, clock = self.chain.view(c.solid)
            acc = state.peek_account(addr)
            if acc is None:
                return {}
            params, kind = state.params, c.integer("type")
            if kind == 1:
                size = acc.can_delegate_energy(params, clock.slot)
            elif kind == 0:
                extra = estimate_delegate_bytes(acc.frozen_net, params)
                size = acc.can_delegate_net(params, clock.slot, extra)
            else:
                size = 0
        return {"max_size": size} if size >= SUN_PER_TRX else {}

    # --- contracts ------------------------------------------------------------------------------------

    def getcontract(self, c: Call) -> Result:
        with self.chain.lock:
            state, _ = self.chain.view(c.solid)
            token = state.peek_token(c.address("value"))
            if token is None:
                return {}
            return contract_json(token, lambda a: render.addr_out(a, c.visible))

    def getcontractinfo(self, c: Call) -> Result:
        with self.chain.lock:
            state, clock = self.chain.view(c.solid)
            token = state.peek_token(c.address("value"))
            if token is None:
                return {}
            smart = contract_json(token, lambda a: render.addr_out(a, c.visible))
            contract_state = views.contract_state_json(token, state.params, clock.cycle)
        return {"smart_contract": smart, "runtimecode": smart["bytecode"], "contract_state": contract_state}

    def _vm(self, c: Call) -> tuple[Any, dict[str, Any] | None]:
        contract = c.address("contract_address")
        owner = render.hex41(c.data["owner_address"]) if c.data.get("owner_address") else ZERO_HEX
        data = c.data.get("data") or ""
        if not data:
            data = _selector(str(c.data.get("function_selector", ""))) + str(c.data.get("parameter") or "")
        with self.chain.lock:
            state, _ = self.chain.view(c.solid)
            token = state.peek_token(contract)
            if token is None:
                msg = render.message("Smart contract is not exist.", c.visible)
                return None, {"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": msg}}
            params = state.params
            return token.call(
                owner, data, token.factor(params.energy_factor, params.allow_dynamic_energy == 1)
            ), None

    def triggerconstantcontract(self, c: Call) -> Result:
        result, error = self._vm(c)
        if error is not None:
            return error
        return _constant_reply(result, c.visible)

    def estimateenergy(self, c: Call) -> Result:
        result, error = self._vm(c)
        if error is not None:
            return error
        if result.status != "SUCCESS":
            msg = render.message("REVERT opcode executed", c.visible)
            return {"result": {"code": "CONTRACT_EXE_ERROR", "message": msg}}
        return {"result": {"result": True}, "energy_required": result.energy_total}

    # --- node-built transactions ----------------------------------------------------------------------

    def triggersmartcontract(self, c: Call) -> Result:
        """TriggerSmartContractServlet: the unsigned transaction (plus the call's result for a view)."""
        try:
            built = builders.build_trigger(self.chain, c.data)
        except BuildError as exc:
            code = "CONTRACT_VALIDATE_ERROR" if "ContractValidate" in exc.java_class else "OTHER_ERROR"
            text = str(exc) if code == "CONTRACT_VALIDATE_ERROR" else f"class {exc.java_class} : {exc}"
            return {"result": {"code": code, "message": render.message(text, c.visible)}}
        out: dict[str, Any] = {}
        data = built["raw"]["contract"][0]["parameter"]["value"].get("data", "")
        if data[:8] in CONSTANT_SELECTORS:  # Wallet.triggerContract runs constant functions
            result, _ = self._vm(c)
            if result is not None:
                out = _constant_reply(result, c.visible)
                out.pop("result", None)
        return {"result": {"result": True}, **out, "transaction": builders.printed(built, c.visible)}

    def _system_builder(self, endpoint: str, c: Call) -> Result:
        try:
            return builders.printed(builders.build_system(self.chain, endpoint, c.data), c.visible)
        except BuildError as exc:
            return {"Error": f"class {exc.java_class} : {exc}"}

    def createtransaction(self, c: Call) -> Result:
        return self._system_builder("createtransaction", c)

    def freezebalancev2(self, c: Call) -> Result:
        return self._system_builder("freezebalancev2", c)

    def unfreezebalancev2(self, c: Call) -> Result:
        return self._system_builder("unfreezebalancev2", c)

    def delegateresource(self, c: Call) -> Result:
        return self._system_builder("delegateresource", c)

    def undelegateresource(self, c: Call) -> Result:
        return self._system_builder("undelegateresource", c)

    # --- transactions ---------------------------------------------------------------------------------

    def getsignweight(self, c: Call) -> Result:
        try:
            return self.chain.sign_weight(c.data, c.visible)
        except ChainError as exc:
            return {"result": {"code": exc.code, "message": render.message(exc.message, c.visible)}}

    def broadcasttransaction(self, c: Call) -> Result:
        try:
            tx = self.chain.parse(c.data, c.visible)
        except ChainError as exc:
            return {"code": exc.code, "message": render.message(exc.message, c.visible)}
        if self.faults.get("node").drop_broadcasts:  # accepted, then silently lost
            self.faults.consume("node")
            return {"result": True, "txid": tx.txid}
        try:
            self.chain.submit(tx)
        except ChainError as exc:
            return {"code": exc.code, "message": render.message(exc.message, c.visible), "txid": tx.txid}
        return {"result": True, "txid": tx.txid}


WALLET_ONLY = (
    "getsignweight",
    "broadcasttransaction",
    "getnodeinfo",
    "triggersmartcontract",
    "createtransaction",
    "freezebalancev2",
    "unfreezebalancev2",
    "delegateresource",
    "undelegateresource",
)
ENDPOINTS = (
    "getnodeinfo",
    "getnowblock",
    "getblock",
    "getblockbynum",
    "getblockbyid",
    "getblockbylimitnext",
    "getblockbylatestnum",
    "gettransactionbyid",
    "gettransactioninfobyid",
    "gettransactioninfobyblocknum",
    "getchainparameters",
    "getenergyprices",
    "getbandwidthprices",
    "getaccount",
    "getaccountresource",
    "getaccountnet",
    "getdelegatedresourcev2",
    "getdelegatedresourceaccountindexv2",
    "getcandelegatedmaxsize",
    "getcontract",
    "getcontractinfo",
    "triggerconstantcontract",
    "estimateenergy",
    "getsignweight",
    "broadcasttransaction",
    "triggersmartcontract",
    "createtransaction",
    "freezebalancev2",
    "unfreezebalancev2",
    "delegateresource",
    "undelegateresource",
)


def _constant_reply(result: Any, visible: bool) -> dict[str, Any]:
    """triggerconstantcontract's TransactionExtention: energy_used (penalty included) and energy_penalty."""
    out: dict[str, Any] = {"result": {"result": True}, "energy_used": result.energy_total}
    if result.status != "SUCCESS":
        out["result"]["message"] = render.message("REVERT opcode executed", visible)
        out["constant_result"] = [""]
    else:
        out["constant_result"] = [result.output]
    if result.penalty:
        out["energy_penalty"] = result.penalty
    return out


async def _read(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body.strip():
            parsed = json.loads(body)
            if not isinstance(parsed, dict):
                raise ValueError("request body must be a JSON object")
            data.update(parsed)
    return data


def _endpoint(handler: Handler, solid: bool) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            call = Call(await _read(request), solid)
            result = handler(call)
        except Exception as exc:  # noqa: BLE001 - java-tron answers any failure as HTTP 200 {"Error": ...}
            result = {"Error": f"class {type(exc).__name__} : {exc}"}
        body = result if isinstance(result, bytes) else render.dumps(result)
        return Response(body, media_type=JSON)

    return endpoint


def node_routes(chain: Chain, faults: Faults) -> list[Route]:
    api = NodeApi(chain, faults)
    routes = []
    for name in ENDPOINTS:
        handler = getattr(api, name)
        routes.append(Route(f"/wallet/{name}", _endpoint(handler, False), methods=["GET", "POST"]))
        if name not in WALLET_ONLY:
            routes.append(Route(f"/walletsolidity/{name}", _endpoint(handler, True), methods=["GET", "POST"]))
    return routes
