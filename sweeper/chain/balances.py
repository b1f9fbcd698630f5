"""``BalanceReader``: many TRC20 balances at once, the balance rescan's hot path.

A java-tron node has no batch call, so a rescan costs one ``triggerconstantcontract`` per address; what
the client can cut is its own cost per call and the time calls wait on each other. Measured against the
devnet (bench/RESULTS.md), ``httpx`` spends about 0.6 ms of CPU per request (headers and body go out in
two writes, and the request passes through cookie, auth and redirect layers), and threads sharing one
GIL add their own hand-offs, so 32 threads read no faster than one. This reader keeps ``connections``
keep-alive HTTP/1.1 connections busy from one asyncio loop, writes each request in a single send and
parses answers with ``h11``: about 0.2 ms of CPU per balance.

Like the rest of the adapter, failures leave as ``sweeper.errors`` types, per address: a transport
failure, any HTTP error status (rate limits included) or an ``{"Error"}`` body is ``ChainUnavailable``;
an answer that is readable but not a balance is ``ChainRejected``. Request bodies and headers are never
logged (the API key travels in one).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import h11

from sweeper.chain import codec
from sweeper.chain.addresses import ZERO_ADDRESS, abi_word, validate
from sweeper.errors import ChainRejected, ChainUnavailable, SweeperError

PATH = "/wallet/triggerconstantcontract"
READ_SIZE = 65_536


class BalanceReader:
    """Reads ``balanceOf`` for many addresses over ``connections`` concurrent keep-alive connections.

    Each ``token_balances`` call runs its own short event loop, so it is safe from any thread that is not
    already running one (Celery's prefork workers, the CLI, tests).
    """

    def __init__(
        self,
        node_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        connections: int = 16,
    ) -> None:
        parts = urlsplit(node_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"node URL must be http(s)://host[:port]/, got scheme {parts.scheme!r}")
        if connections < 1:
            raise ValueError("connections must be >= 1")
        self._host = parts.hostname
        self._tls = parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self._target = parts.path.rstrip("/") + PATH
        host_header = parts.netloc.rsplit("@", 1)[-1]
        self._headers = [("Host", host_header), ("Content-Type", "application/json")]
        if api_key:
            self._headers.append(("TRON-PRO-API-KEY", api_key))
        self._timeout = timeout
        self.connections = connections

    def token_balances(self, contract: str, addresses: Sequence[str]) -> list[int | SweeperError]:
        """``balanceOf`` of each address, in order; an entry is the error when that read failed."""
        validate(contract)
        if not addresses:
            return []
        return asyncio.run(self._read_all(contract, addresses))

    async def _read_all(self, contract: str, addresses: Sequence[str]) -> list[int | SweeperError]:
        results: list[int | SweeperError] = [ChainUnavailable("not read")] * len(addresses)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(addresses)):
            queue.put_nowait(index)
        prefix = b'{"owner_address":"' + ZERO_ADDRESS.encode() + b'","contract_address":"'
        prefix += contract.encode() + b'","function_selector":"balanceOf(address)","parameter":"'
        workers = min(self.connections, len(addresses))
        await asyncio.gather(*(self._worker(queue, addresses, prefix, results) for _ in range(workers)))
        return results

    async def _worker(
        self,
        queue: asyncio.Queue[int],
        addresses: Sequence[str],
        prefix: bytes,
        results: list[int | SweeperError],
    ) -> None:
        conn: _Connection | None = None
        try:
            while not queue.empty():
                index = queue.get_nowait()
                try:
                    body = prefix + abi_word(addresses[index]).encode() + b'","visible":true}'
                except SweeperError as exc:
                    results[index] = exc
                    continue
                try:
                    if conn is None:
                        conn = await asyncio.wait_for(self._connect(), self._timeout)
                    status, answer = await asyncio.wait_for(conn.post(self._target, body), self._timeout)
                except (OSError, EOFError, TimeoutError, h11.ProtocolError) as exc:
                    if conn is not None:
                        conn.close()
                        conn = None
                    results[index] = ChainUnavailable(
                        f"triggerconstantcontract balanceOf: {type(exc).__name__}: {exc}"
                    )
                    continue
                results[index] = _balance(status, answer)
                if not conn.reusable:
                    conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    async def _connect(self) -> _Connection:
        context = ssl.create_default_context() if self._tls else None
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=context, server_hostname=self._host if self._tls else None
        )
        return _Connection(reader, writer, self._headers)


class _Connection:
    """One HTTP/1.1 keep-alive connection: a request at a time, parsed with h11."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: list[tuple[str, str]]
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._headers = headers
        self._h11 = h11.Connection(h11.CLIENT)

    @property
    def reusable(self) -> bool:
        return self._h11.our_state is h11.IDLE and self._h11.their_state is h11.IDLE

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        headers = [*self._headers, ("Content-Length", str(len(body)))]
        conn = self._h11
        data = conn.send(h11.Request(method="POST", target=target, headers=headers)) or b""
        data += (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
        self._writer.write(data)  # one write: no small segment waits for a delayed ACK
        await self._writer.drain()
        status = 0
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                received = await self._reader.read(READ_SIZE)
                if not received:
                    raise EOFError("the node closed the connection")
                conn.receive_data(received)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise EOFError("the node closed the connection")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        return status, b"".join(chunks)

    def close(self) -> None:
        self._writer.close()


def _balance(status: int, body: bytes) -> int | SweeperError:
    """The uint256 in a triggerconstantcontract answer, or the error it stands for."""
    operation = "triggerconstantcontract balanceOf"
    if status != 200:  # rate limits (403/429/503) and every other status: the read failed, retry it
        return ChainUnavailable(f"{operation}: node answered HTTP {status}", reason=f"http_{status}")
    try:
        answer: Any = codec.loads(body)
    except ValueError:
        return ChainUnavailable(f"{operation}: node answered a body that is not JSON")
    if isinstance(answer, dict) and "Error" in answer:  # java-tron's limiter and other node failures
        return ChainUnavailable(f"{operation}: node error: {str(answer['Error'])[:200]}", reason="node_error")
    if not isinstance(answer, dict):
        return ChainRejected(f"{operation}: not an object")
    result = answer.get("result") or {}
    if isinstance(result, dict) and "message" in result:
        return ChainRejected(f"{operation}: {result['message']}")
    words = answer.get("constant_result") or [""]
    try:
        return int(str(words[0])[:64] or "0", 16)
    except ValueError:
        return ChainRejected(f"{operation}: constant_result is not a number")
