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

from devnet import render, views
from devnet.chain import Chain
from devnet.crypto import selector
from devnet.errors import ChainError
from devnet.faults import Faults
from devnet.usdt import ENERGY_FACTOR, ZERO_HEX, contract_json

BLOCK_LIMIT = 100
JSON = "application/json"


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
            acc = self.chain.state.account(addr)
            return views.account_json(acc, c.visible) if acc else {}

    def getaccountresource(self, c: Call) -> Result:
        addr = c.address("address")
        with self.chain.lock:
            acc = self.chain.state.account(addr)
            return views.account_resource_json(self.chain.state, acc, self.chain.now_ms()) if acc else {}

    def getaccountnet(self, c: Call) -> Result:
        addr = c.address("address")
        with self.chain.lock:
            acc = self.chain.state.account(addr)
            return views.account_net_json(self.chain.state, acc, self.chain.now_ms()) if acc else {}

    def getdelegatedresourcev2(self, c: Call) -> Result:
        owner, receiver = c.address("fromAddress"), c.address("toAddress")
        with self.chain.lock:
            return views.delegated_resource_json(self.chain.state, owner, receiver, c.visible)

    def getdelegatedresourceaccountindexv2(self, c: Call) -> Result:
        addr = c.address("value")
        with self.chain.lock:
            return views.delegation_index_json(self.chain.state, addr, c.visible)

    def getcandelegatedmaxsize(self, c: Call) -> Result:
        addr = c.address("owner_address")
        with self.chain.lock:
            acc = self.chain.state.account(addr)
            if acc is None:
                return {}
            params, now = self.chain.state.params, self.chain.now_ms()
            size = (
                acc.can_delegate_energy(params, now)
                if c.integer("type") == 1
                else acc.can_delegate_net(params, now)
            )
        return {"max_size": size} if size else {}

    # --- contracts ------------------------------------------------------------------------------------

    def getcontract(self, c: Call) -> Result:
        token = self.chain.state.tokens.get(c.address("value"))
        if token is None:
            return {}
        return contract_json(token, lambda a: render.addr_out(a, c.visible))

    def getcontractinfo(self, c: Call) -> Result:
        token = self.chain.state.tokens.get(c.address("value"))
        if token is None:
            return {}
        smart = contract_json(token, lambda a: render.addr_out(a, c.visible))
        state = {"energy_usage": 0, "energy_factor": ENERGY_FACTOR, "update_cycle": 1}
        return {"smart_contract": smart, "runtimecode": smart["bytecode"], "contract_state": state}

    def _vm(self, c: Call) -> tuple[Any, dict[str, Any] | None]:
        contract = c.address("contract_address")
        owner = render.hex41(c.data["owner_address"]) if c.data.get("owner_address") else ZERO_HEX
        data = c.data.get("data") or ""
        if not data:
            data = _selector(str(c.data.get("function_selector", ""))) + str(c.data.get("parameter") or "")
        with self.chain.lock:
            token = self.chain.state.tokens.get(contract)
            if token is None:
                msg = render.message("Smart contract is not exist.", c.visible)
                return None, {"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": msg}}
            return token.call(owner, data), None

    def triggerconstantcontract(self, c: Call) -> Result:
        result, error = self._vm(c)
        if error is not None:
            return error
        out: dict[str, Any] = {"result": {"result": True}, "energy_used": result.energy_total}
        if result.status != "SUCCESS":
            out["result"]["message"] = render.message("REVERT opcode executed", c.visible)
            out["constant_result"] = [""]
        else:
            out["constant_result"] = [result.output]
        if result.penalty:
            out["energy_penalty"] = result.penalty
        return out

    def estimateenergy(self, c: Call) -> Result:
        result, error = self._vm(c)
        if error is not None:
            return error
        if result.status != "SUCCESS":
            msg = render.message("REVERT opcode executed", c.visible)
            return {"result": {"code": "CONTRACT_EXE_ERROR", "message": msg}}
        return {"result": {"result": True}, "energy_required": result.energy_total}

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


WALLET_ONLY = ("getsignweight", "broadcasttransaction", "getnodeinfo")
ENDPOINTS = (
    "getnodeinfo",
    "getnowblock",
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
)


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
