"""Admin API on the node port (`/devnet/*`): funding, minting, blocks, faults, keys, inspection.

For tests, the demo and benchmarks only. Bad input answers HTTP 400 `{"error", "message"}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet import render, views
from devnet.chain import Chain
from devnet.crypto import generate_key
from devnet.errors import ChainError
from devnet.faults import Faults
from devnet.providers.registry import SimulatorRegistry
from devnet.usdt import USDT_ADDRESS

MAX_NEW_ACCOUNTS = 10_000


class AdminApi:
    """Handlers bound to one chain, its fault table and the server's facts (ports, persistence)."""

    def __init__(
        self,
        chain: Chain,
        faults: Faults,
        ports: Callable[[], dict[str, int]],
        save: Callable[[], None] | None = None,
        block_time: float = 3.0,
        *,
        simulators: SimulatorRegistry | None = None,
    ) -> None:
        self.chain = chain
        self.faults = faults
        self.ports = ports
        self.save_state = save
        self.block_time = block_time
        self.simulators = simulators

    def fund(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"txid": self.chain.fund(_str(body, "address"), _int(body, "sun"))}

    def mint(self, body: dict[str, Any]) -> dict[str, Any]:
        contract = body.get("contract") or USDT_ADDRESS
        self.chain.mint(_str(body, "address"), _int(body, "amount"), contract)
        return {"ok": True}

    def produce(self, body: dict[str, Any]) -> dict[str, Any]:
        blocks = _int(body, "blocks", 1)
        if not 1 <= blocks <= 10_000:
            raise ValueError("blocks must be between 1 and 10000")
        return {"head": self.chain.produce_blocks(blocks)}

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        options = dict(body)
        target = str(options.pop("target", ""))
        return {"target": target, "settings": self.faults.set(target, **options).to_dict()}

    def clear_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        self.faults.clear(body.get("target") or None)
        return {"ok": True}

    def blacklist(self, body: dict[str, Any]) -> dict[str, Any]:
        flag = bool(body.get("blacklisted", True))
        self.chain.set_blacklisted(_str(body, "address"), flag, body.get("contract") or USDT_ADDRESS)
        return {"ok": True}

    def token(self, body: dict[str, Any]) -> dict[str, Any]:
        """Deploy another TRC20 token with USDT's semantics.

        {"address", "symbol", "decimals"? (0-18), "name"?, "holder_energy"?, "new_holder_energy"?,
        "energy_factor"?, "emits_transfer"? (default true; false: transfers succeed without a Transfer
        event, as a non-standard token's may)}: the two energies are the base cost of a transfer to an
        address that holds / does not hold the token (USDT's 14 650 / 29 650 by default, 64 285 / 130 285
        with the penalty).
        """
        self.chain.deploy_token(
            _str(body, "address"),
            _str(body, "symbol"),
            _int(body, "decimals", 6),
            body.get("name"),
            holder_energy=_opt_int(body, "holder_energy"),
            new_holder_energy=_opt_int(body, "new_holder_energy"),
            energy_factor=_opt_int(body, "energy_factor"),
            emits_transfer=bool(body.get("emits_transfer", True)),
        )
        return {"ok": True}

    def energy_factor(self, body: dict[str, Any]) -> dict[str, Any]:
        """{"contract", "factor": int | null}: a contract's energy_factor (null: the chain default)."""
        contract = _str(body, "contract")
        self.chain.set_energy_factor(contract, _opt_int(body, "factor"))
        return {"contract": contract, "factor": self.chain.energy_factor(contract)}

    def accounts(self, body: dict[str, Any]) -> dict[str, Any]:
        """New keypairs (devnet only: private keys in the response), optionally funded with TRX/USDT."""
        count = _int(body, "count", 1)
        if not 1 <= count <= MAX_NEW_ACCOUNTS:
            raise ValueError(f"count must be between 1 and {MAX_NEW_ACCOUNTS}")
        sun, usdt = _int(body, "sun", 0), _int(body, "usdt", 0)
        out = []
        for _ in range(count):
            priv, addr = generate_key()
            if sun:
                self.chain.fund(addr, sun)
            if usdt:
                self.chain.mint(addr, usdt)
            out.append({"address": addr, "hex": render.hex41(addr), "private_key": priv.hex()})
        return {"accounts": out}

    def pool(self, body: dict[str, Any]) -> dict[str, Any]:
        self.chain.create_pool(
            _str(body, "address"),
            _int(body, "trx_sun", 0),
            _int(body, "staked_energy_sun", 0),
            _int(body, "staked_bandwidth_sun", 0),
        )
        return {"ok": True}

    def delegate(self, body: dict[str, Any]) -> dict[str, Any]:
        """{"owner", "receiver", "energy"? units, "bandwidth"? bytes, "lock"?, "lock_period"? blocks}."""
        owner, receiver = _str(body, "owner"), _str(body, "receiver")
        lock, lock_period = bool(body.get("lock")), _int(body, "lock_period", 0)
        energy, bandwidth = _opt_int(body, "energy"), _opt_int(body, "bandwidth")
        if energy is None and bandwidth is None:
            raise ValueError("energy (units) or bandwidth (bytes) is required")
        txids = []
        if energy is not None:
            txids.append(
                self.chain.delegate_energy(owner, receiver, energy, lock=lock, lock_period=lock_period)
            )
        if bandwidth is not None:
            txids.append(
                self.chain.delegate_bandwidth(owner, receiver, bandwidth, lock=lock, lock_period=lock_period)
            )
        return {"txid": txids[0], "txids": txids}

    def undelegate(self, body: dict[str, Any]) -> dict[str, Any]:
        """{"owner", "receiver", "energy"? | "bandwidth"? | "resource"?}: that much, or all it may."""
        owner, receiver = _str(body, "owner"), _str(body, "receiver")
        resource = str(body.get("resource") or ("BANDWIDTH" if "bandwidth" in body else "ENERGY")).upper()
        if resource == "BANDWIDTH":
            return {"txid": self.chain.undelegate_bandwidth(owner, receiver, _opt_int(body, "bandwidth"))}
        if resource != "ENERGY":
            raise ValueError("resource must be ENERGY or BANDWIDTH")
        return {"txid": self.chain.undelegate_energy(owner, receiver, _opt_int(body, "energy"))}

    def transfer(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"txid": self.chain.transfer_trx(_str(body, "owner"), _str(body, "to"), _int(body, "sun"))}

    def set_params(self, body: dict[str, Any]) -> dict[str, Any]:
        self.chain.update_params(body)
        return self.params({})

    def params(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.chain.lock:
            return self.chain.state.params.to_dict()

    def save(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.save_state is None:
            raise ValueError("the devnet was started without --state")
        self.save_state()
        return {"ok": True}

    def state(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.chain.lock:
            head = self.chain.head_block()
            return {
                "head": head.number,
                "head_id": head.block_id,
                "solid": self.chain.solid_number(),
                "solid_depth": self.chain.solid_depth,
                "block_time": self.block_time,
                "accounts": len(self.chain.state.accounts),
                "pending": len(self.chain.pending),
                "faucet": render.b58(self.chain.faucet),
                "ports": self.ports(),
                "faults": self.faults.snapshot(),
            }

    def providers(self, body: dict[str, Any]) -> dict[str, Any]:
        """The provider simulators served: port, fault target and the sample credentials each accepts."""
        ports = self.ports()
        served = [spec for spec in self.simulators or () if spec.name in ports]
        return {
            "providers": [
                {
                    "name": spec.name,
                    "port": ports[spec.name],
                    "port_offset": spec.port_offset,
                    "fault_target": spec.name,
                    "url_setting": spec.url_setting,
                    "credentials": dict(spec.credentials),
                }
                for spec in served
            ]
        }

    def account(self, address: str) -> dict[str, Any]:
        addr = render.hex41(address)
        with self.chain.lock:
            state, clock = self.chain.view()
            return views.debug_json(state, state.peek_account(addr), addr, clock.slot)


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is required")
    return value


def _int(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if value is None:
        raise ValueError(f"{key} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer (base units)")
    return int(value)


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    return None if body.get(key) is None else _int(body, key)


def _wrap(handler: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            body.update(request.query_params)
            return JSONResponse(await run_in_threadpool(handler, body))
        except ChainError as exc:
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=400)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": "BAD_REQUEST", "message": str(exc)}, status_code=400)

    return endpoint


def admin_routes(api: AdminApi) -> list[Route]:
    async def account(request: Request) -> Response:
        try:
            return JSONResponse(api.account(request.path_params["address"]))
        except ValueError as exc:
            return JSONResponse({"error": "BAD_REQUEST", "message": str(exc)}, status_code=400)

    post = [
        ("fund", api.fund),
        ("mint", api.mint),
        ("produce", api.produce),
        ("faults", api.set_faults),
        ("blacklist", api.blacklist),
        ("token", api.token),
        ("energy_factor", api.energy_factor),
        ("accounts", api.accounts),
        ("pool", api.pool),
        ("delegate", api.delegate),
        ("undelegate", api.undelegate),
        ("transfer", api.transfer),
        ("params", api.set_params),
        ("save", api.save),
    ]
    routes = [Route(f"/devnet/{name}", _wrap(fn), methods=["POST"]) for name, fn in post]
    routes += [
        Route("/devnet/faults", _wrap(api.clear_faults), methods=["DELETE"]),
        Route("/devnet/state", _wrap(api.state), methods=["GET"]),
        Route("/devnet/params", _wrap(api.params), methods=["GET"]),
        Route("/devnet/providers", _wrap(api.providers), methods=["GET"]),
        Route("/devnet/account/{address}", account, methods=["GET"]),
    ]
    return routes
