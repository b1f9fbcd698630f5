"""`Devnet`: the chain, its block producer, and the HTTP servers (node + admin, one per provider simulator).

Every server runs in one background asyncio loop; `start()` binds all sockets first (so port 0 picks
free ports and a busy port fails loudly), then returns once every server accepts connections. With a
fixed port, each simulator listens at that port plus its declared offset (`devnet/providers/registry.py`:
itrx +1, ea888fee +2, tronzap +3).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from devnet import persistence
from devnet.admin_api import AdminApi, admin_routes
from devnet.chain import Chain
from devnet.faults import FaultMiddleware, Faults
from devnet.node_api import node_routes
from devnet.params import ChainParams
from devnet.providers import build_apps
from devnet.providers.registry import NODE, simulators

log = logging.getLogger("devnet.server")

START_TIMEOUT_S = 15.0


class Devnet:
    """A local TRON network plus energy-provider sandboxes, for tests, the CLI and the demo."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        block_time: float = 3.0,
        solid_depth: int = 18,
        state_file: str | None = None,
        *,
        providers: bool = True,
        provider_delay_blocks: int = 1,
        callback_time_scale: float = 1.0,
        chain_params: dict[str, int] | None = None,
        save_interval: float = 30.0,
        provider_options: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.block_time = block_time
        self.state_file = state_file
        self.save_interval = save_interval
        params = ChainParams()
        params.update(chain_params or {})
        # blocks sit on slots of the block time (3 s as on mainnet; manual-only production keeps 3 s)
        slot_ms = round(block_time * 1000) if block_time > 0 else 3_000
        self.chain = Chain(params=params, solid_depth=solid_depth, slot_ms=max(slot_ms, 1))
        if state_file:
            saved = persistence.load(state_file)
            if saved is not None:
                self.chain.restore(saved)
                self.chain.update_params(chain_params or {})
        self.faults = Faults()
        self._want_providers = providers
        self._provider_opts: dict[str, Any] = {
            "delay_blocks": provider_delay_blocks,
            "callback_time_scale": callback_time_scale,
            **(provider_options or {}),
        }
        self._ports: dict[str, int] = {}
        self._servers: list[uvicorn.Server] = []
        self._loop_thread: threading.Thread | None = None
        self._producer: threading.Thread | None = None
        self._stop = threading.Event()
        self._started = False

    # --- public handle --------------------------------------------------------------------------------

    def ports(self) -> dict[str, int]:
        return dict(self._ports)

    @property
    def _url_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host

    @property
    def node_url(self) -> str:
        return f"http://{self._url_host}:{self._ports[NODE]}/"

    def provider_names(self) -> list[str]:
        """The provider simulators this devnet serves, in port order."""
        return [name for name in self._ports if name != NODE]

    def provider_url(self, name: str) -> str:
        return f"http://{self._url_host}:{self._ports[name]}"

    @property
    def itrx_url(self) -> str:
        return self.provider_url("itrx")

    @property
    def ea888fee_url(self) -> str:
        return self.provider_url("ea888fee")

    @property
    def tronzap_url(self) -> str:
        return self.provider_url("tronzap")

    def save(self) -> None:
        if self.state_file:
            persistence.save(self.chain, self.state_file)

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> Devnet:
        if self._started:
            return self
        apps = self._build_apps()
        sockets = self._bind(list(apps))
        self._servers = []
        pairs = []
        for name, app in apps.items():
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="auto",
                timeout_graceful_shutdown=1,
                timeout_keep_alive=30,
            )
            server = uvicorn.Server(config)
            self._servers.append(server)
            pairs.append((server, sockets[name]))
        self._stop.clear()
        self.faults.stopping.clear()
        self._loop_thread = threading.Thread(
            target=self._serve, args=(pairs,), name="devnet-http", daemon=True
        )
        self._loop_thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(s.started for s in self._servers):
            if time.monotonic() > deadline or not self._loop_thread.is_alive():
                self.stop()
                raise RuntimeError("devnet servers did not start")
            time.sleep(0.01)
        if self.block_time > 0:
            self._producer = threading.Thread(target=self._produce, name="devnet-blocks", daemon=True)
            self._producer.start()
        self._started = True
        return self

    def stop(self) -> None:
        self._stop.set()
        self.faults.stopping.set()
        for server in self._servers:
            server.should_exit = True
        if self._producer is not None:
            self._producer.join(timeout=10)
            self._producer = None
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=10)
            self._loop_thread = None
        if self._started:
            self.save()
        self._started = False

    def __enter__(self) -> Devnet:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------------------------

    def _build_apps(self) -> dict[str, Any]:
        admin = AdminApi(
            self.chain,
            self.faults,
            self.ports,
            self.save if self.state_file else None,
            self.block_time,
            simulators=simulators(),
        )
        node = Starlette(routes=node_routes(self.chain, self.faults) + admin_routes(admin))
        apps: dict[str, Any] = {NODE: FaultMiddleware(node, self.faults, NODE, prefixes=("/wallet",))}
        if self._want_providers:
            apps.update(build_apps(self.chain, self.faults, **self._provider_opts))
        return apps

    def _bind(self, names: list[str]) -> dict[str, socket.socket]:
        offsets = simulators().port_offsets()
        sockets: dict[str, socket.socket] = {}
        try:
            for name in names:
                sock = socket.socket(
                    socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM
                )
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                # inherited by accepted connections: without it small responses wait for delayed ACKs (~40 ms)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.bind((self.host, self.port + offsets[name] if self.port else 0))
                sock.listen(2048)
                sock.setblocking(False)
                sockets[name] = sock
                self._ports[name] = sock.getsockname()[1]
        except OSError:
            for sock in sockets.values():
                sock.close()
            raise
        return sockets

    def _serve(self, pairs: list[tuple[uvicorn.Server, socket.socket]]) -> None:
        async def main() -> None:
            await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in pairs))

        try:
            asyncio.run(main())
        finally:
            for _, sock in pairs:
                sock.close()

    def _produce(self) -> None:
        """One block per slot, as an SR produces: wait until the slot after the head block, then mine.

        After a burst of `POST /devnet/produce` the head is ahead of the clock; production then waits
        until the clock reaches the head's next slot, so block time never runs away from the wall clock.
        """
        last_save = time.monotonic()
        while not self._stop.is_set():
            delay = self.chain.next_slot_time() / 1000 - time.time()
            if delay > 0:  # re-check after waking: a POST /devnet/produce may have moved the head
                self._stop.wait(delay)
                continue
            try:
                self.chain.produce_if_due()
            except Exception:
                log.exception("block production failed")
                self._stop.wait(self.block_time)
            now = time.monotonic()
            if self.state_file and now - last_save >= self.save_interval:
                last_save = now
                try:
                    self.save()
                except OSError:
                    log.exception("saving devnet state failed")


def _param(text: str) -> tuple[str, int]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), int(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="devnet", description="Local TRON node and energy-provider sandbox.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--port",
        type=int,
        default=9090,
        help="node port; each provider takes it plus its offset (1, 2, 3, …)",
    )
    p.add_argument(
        "--block-time", type=float, default=3.0, help="seconds per block (0: only on /devnet/produce)"
    )
    p.add_argument("--solid-depth", type=int, default=18, help="solid block = head - this")
    p.add_argument("--state", default=None, metavar="FILE", help="JSON file to load on start and save to")
    p.add_argument("--no-providers", action="store_true", help="serve only the node")
    p.add_argument("--provider-delay-blocks", type=int, default=1)
    p.add_argument("--callback-time-scale", type=float, default=1.0)
    p.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="chain parameter, e.g. getEnergyFee=210 (repeatable)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the devnet until Ctrl-C or SIGTERM; prints every port it serves."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    devnet = Devnet(
        host=args.host,
        port=args.port,
        block_time=args.block_time,
        solid_depth=args.solid_depth,
        state_file=args.state,
        providers=not args.no_providers,
        provider_delay_blocks=args.provider_delay_blocks,
        callback_time_scale=args.callback_time_scale,
        chain_params=dict(args.param),
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # explicit: a background job may inherit SIGINT ignored
        signal.signal(signum, lambda *_: stop.set())
    devnet.start()
    try:
        print(f"devnet node     {devnet.node_url}  (/wallet, /walletsolidity, admin /devnet)", flush=True)
        for name in devnet.provider_names():
            print(f"devnet {name:<8} {devnet.provider_url(name)}", flush=True)
        print(f"block time {args.block_time}s, solid depth {args.solid_depth}; Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        devnet.stop()
    return 0
