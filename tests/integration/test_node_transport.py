"""The node transport on urllib3 against real local HTTP servers: keep-alive, failures, TLS and proxies.

Each server here is a ``ThreadingHTTPServer`` on 127.0.0.1 speaking HTTP/1.1 (keep-alive), counting the
connections it accepts and recording every request it reads, so a test sees what really went over the
wire: how many connections, how many POSTs, which request line, which headers.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devnet.server import Devnet
from sweeper.chain import TronChain, tron
from sweeper.chain.transport import NodeProvider, Urllib3NodeHttp
from sweeper.errors import ChainUnavailable
from tests.support.stack import stack

pytestmark = pytest.mark.integration

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    target: str
    """The request line's target: a path, or an absolute URI when it came through as a proxy request."""
    headers: Message
    """Looked up by name in any case, as HTTP means them."""
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a handler that hangs up on purpose fails to flush; that is the test, not news


@dataclass
class Server:
    """A local HTTP/1.1 server whose answer to each request is ``reply(handler, seen)``."""

    reply: Callable[[BaseHTTPRequestHandler, Seen], None]
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed: int = 0
    """Connections the client has closed (or the handler gave up on)."""
    release: threading.Event = field(default_factory=threading.Event)
    """Set at teardown, so a handler that stalls on purpose lets the server stop."""

    def start(self, tls: TlsFiles | None = None) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

            def setup(self) -> None:
                owner.connections += 1
                super().setup()

            def finish(self) -> None:
                super().finish()
                owner.closed += 1

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen("POST", self.path, self.headers, self.rfile.read(length))
                owner.requests.append(seen)
                owner.reply(self, seen)

            def do_CONNECT(self) -> None:  # a proxy's tunnel: bytes both ways until either side closes
                owner.requests.append(Seen("CONNECT", self.path, self.headers, b""))
                host, _, port = self.path.rpartition(":")
                with socket.create_connection((host, int(port))) as upstream:
                    self.send_response(200, "Connection established")
                    self.end_headers()
                    self.close_connection = True
                    ends = {self.connection: upstream, upstream: self.connection}
                    while not owner.release.is_set():
                        for end in select.select(list(ends), [], [], 0.05)[0]:
                            data = end.recv(65_536)
                            if not data:
                                return
                            ends[end].sendall(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, scheme: str = "http", userinfo: str = "") -> str:
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class TlsFiles:
    """A self-signed certificate for 127.0.0.1, its key, and a ``c_rehash``-style folder holding it."""

    cert: str
    key: str
    folder: str


def answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def echo(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
    """A node that answers every call with JSON naming what it was asked."""
    answer(handler, 200, json.dumps({"target": seen.target, "params": json.loads(seen.body)}).encode())


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(reply: Callable[[BaseHTTPRequestHandler, Seen], None], tls: TlsFiles | None = None) -> Server:
        server = Server(reply)
        server.start(tls)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable from the machine running the tests; a test sets its own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@contextmanager
def urllib3_requests() -> Iterator[list[str]]:
    """The request lines urllib3's pools log while the block runs (a handler of its own: the runtime
    replaces the root logger's handlers, pytest's capture among them)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("urllib3.connectionpool")
    handler, level = Collect(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def provider(url: str, *, timeout: float = 5.0, api_key: str | None = None) -> NodeProvider:
    return NodeProvider(url, http=Urllib3NodeHttp(), timeout=timeout, api_key=api_key)


def test_calls_return_the_decoded_answer_over_one_keep_alive_connection(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    server = serve(echo)
    node = provider(server.url(), api_key="key-1")
    for number in range(50):
        assert node.make_request("wallet/getblockbynum", {"num": number}) == {
            "target": "/wallet/getblockbynum",
            "params": {"num": number},
        }
    assert len(server.requests) == 50
    assert server.connections == 1
    headers = server.requests[0].headers
    assert headers["TRON-PRO-API-KEY"] == "key-1"
    assert headers["User-Agent"].startswith("sweeper tronpy/")
    assert headers["Content-Type"] == "application/json"
    assert node.make_request("wallet/getnodeinfo") == {"target": "/wallet/getnodeinfo", "params": {}}


def test_a_compressed_answer_is_decoded(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    def compressed(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        answer(handler, 200, gzip.compress(b'{"blockID":"00ab"}'), {"Content-Encoding": "gzip"})

    server = serve(compressed)
    assert provider(server.url()).make_request("wallet/getnowblock") == {"blockID": "00ab"}
    assert "gzip" in server.requests[0].headers["Accept-Encoding"]


@pytest.mark.parametrize(("status", "wait"), [(429, "7"), (503, "30")])
def test_a_rate_limit_status_is_unavailable_with_the_wait_the_node_named(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch, status: int, wait: str
) -> None:
    server = serve(lambda handler, seen: answer(handler, status, b"slow down", {"Retry-After": wait}))
    with pytest.raises(ChainUnavailable) as info:
        provider(server.url()).make_request("wallet/getaccount", {"address": "T"})
    assert info.value.reason == f"http_{status}"
    assert info.value.retry_after == float(wait)
    assert len(server.requests) == 1


def test_a_connection_closed_without_an_answer_is_one_post_and_a_message_without_the_url(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    def hang_up(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    server = serve(hang_up)
    node = provider(server.url(userinfo="user:secret@"))
    with pytest.raises(ChainUnavailable) as info:
        node.make_request("wallet/broadcasttransaction", {"txID": "ab" * 32})
    time.sleep(0.2)  # a retry, if the library made one, would have arrived by now
    assert len(server.requests) == 1
    message = str(info.value)
    assert message.startswith("wallet/broadcasttransaction: ")
    assert "ProtocolError" in message
    for leaked in ("secret", "user", "127.0.0.1", str(server.port)):
        assert leaked not in message


def test_credentials_in_the_url_go_as_basic_auth_and_nowhere_else(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    server = serve(echo)
    provider(server.url(userinfo="us%40er:p%3Ass@")).make_request("wallet/getnodeinfo")
    [seen] = server.requests
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert seen.target == "/wallet/getnodeinfo"
    assert seen.headers["Host"] == f"127.0.0.1:{server.port}"


def test_a_refused_connection_is_unavailable(no_proxy_env: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    with pytest.raises(ChainUnavailable) as info:
        provider(f"http://user:secret@127.0.0.1:{port}/").make_request("wallet/getnodeinfo")
    assert "NewConnectionError" in str(info.value)
    assert "secret" not in str(info.value) and str(port) not in str(info.value)


def test_an_answer_slower_than_the_timeout_is_unavailable_within_the_timeout(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    server: Server

    def stall(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        server.release.wait(10)
        echo(handler, seen)

    server = serve(stall)
    started = time.monotonic()
    with pytest.raises(ChainUnavailable) as info:
        provider(server.url(), timeout=0.3).make_request("wallet/getnowblock")
    assert time.monotonic() - started < 3
    assert "ReadTimeoutError" in str(info.value)
    assert len(server.requests) == 1


def test_a_body_that_is_not_json_is_unavailable(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    server = serve(lambda handler, seen: answer(handler, 200, b"<html>gateway</html>", {}))
    with pytest.raises(ChainUnavailable, match="not JSON"):
        provider(server.url()).make_request("wallet/getnowblock")


def test_a_redirect_is_not_followed(serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch) -> None:
    def redirect(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        if seen.target.startswith("/elsewhere"):
            echo(handler, seen)
        else:
            answer(handler, 307, b"", {"Location": "/elsewhere/wallet/broadcasttransaction"})

    server = serve(redirect)
    with pytest.raises(ChainUnavailable):
        provider(server.url()).make_request("wallet/broadcasttransaction", {"txID": "cd" * 32})
    assert [seen.target for seen in server.requests] == ["/wallet/broadcasttransaction"]


def test_the_proxy_of_the_environment_carries_the_request_unless_no_proxy_names_the_node(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    proxy = serve(echo)
    node = serve(echo)
    no_proxy_env.setenv("HTTP_PROXY", f"http://proxyuser:proxypass@127.0.0.1:{proxy.port}")

    provider("http://node.invalid:8090/").make_request("wallet/getnodeinfo")
    [seen] = proxy.requests
    assert seen.target == "http://node.invalid:8090/wallet/getnodeinfo"  # absolute-form: a proxy request
    assert seen.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"proxyuser:proxypass").decode()

    no_proxy_env.setenv("NO_PROXY", "localhost,127.0.0.1")
    provider(node.url()).make_request("wallet/getnodeinfo")
    assert len(proxy.requests) == 1
    assert [seen.target for seen in node.requests] == ["/wallet/getnodeinfo"]


def test_all_proxy_applies_when_no_scheme_proxy_is_set(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    proxy = serve(echo)
    no_proxy_env.setenv("ALL_PROXY", f"127.0.0.1:{proxy.port}")  # no scheme: http, as httpx reads it
    transport = Urllib3NodeHttp()
    NodeProvider("http://node.invalid/", http=transport).make_request("wallet/getnodeinfo")
    assert [seen.target for seen in proxy.requests] == ["http://node.invalid/wallet/getnodeinfo"]
    transport.close()
    deadline = time.monotonic() + 5
    while proxy.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.closed == 1  # close() closed the connection to the proxy too


def test_a_proxy_the_transport_cannot_speak_is_refused_when_it_is_built(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    no_proxy_env.setenv("ALL_PROXY", "socks5://user:hunter2@127.0.0.1:1080")
    with pytest.raises(ValueError, match="socks5") as info:
        Urllib3NodeHttp()
    assert "hunter2" not in str(info.value)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "node.pem", folder / "node.key"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    hashed = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(cert)], check=True, capture_output=True, text=True
    ).stdout.strip()
    (folder / "certs").mkdir()
    shutil.copy(cert, folder / "certs" / f"{hashed}.0")
    return TlsFiles(str(cert), str(key), str(folder / "certs"))


def test_tls_is_verified_against_the_bundle_and_ssl_cert_file_names_another(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch, self_signed: TlsFiles
) -> None:
    server = serve(echo, tls=self_signed)
    no_proxy_env.delenv("SSL_CERT_FILE", raising=False)
    no_proxy_env.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(ChainUnavailable, match="SSLError"):
        provider(server.url("https")).make_request("wallet/getnodeinfo")
    assert server.requests == []  # the handshake failed: nothing was sent

    no_proxy_env.setenv("SSL_CERT_FILE", self_signed.cert)
    assert provider(server.url("https")).make_request("wallet/getnodeinfo")["target"] == "/wallet/getnodeinfo"

    no_proxy_env.delenv("SSL_CERT_FILE")
    no_proxy_env.setenv("SSL_CERT_DIR", self_signed.folder)
    assert provider(server.url("https")).make_request("wallet/getnodeinfo")["target"] == "/wallet/getnodeinfo"
    assert len(server.requests) == 2


def test_an_https_node_behind_the_proxy_is_reached_through_a_tunnel_and_its_certificate_checked(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch, self_signed: TlsFiles
) -> None:
    node = serve(echo, tls=self_signed)
    proxy = serve(echo)
    no_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    no_proxy_env.delenv("SSL_CERT_FILE", raising=False)
    no_proxy_env.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(ChainUnavailable, match="SSLError"):
        provider(node.url("https")).make_request("wallet/getnodeinfo")
    assert node.requests == []

    no_proxy_env.setenv("SSL_CERT_FILE", self_signed.cert)
    assert provider(node.url("https")).make_request("wallet/getnodeinfo")["target"] == "/wallet/getnodeinfo"
    assert [(seen.method, seen.target) for seen in proxy.requests] == [
        ("CONNECT", f"127.0.0.1:{node.port}")
    ] * 2
    assert [seen.target for seen in node.requests] == ["/wallet/getnodeinfo"]


def test_one_transport_keeps_a_pool_per_origin_and_close_closes_every_connection(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    servers = [serve(echo) for _ in range(6)]  # more origins than a PoolManager's default LRU keeps
    transport = Urllib3NodeHttp()
    for _ in range(2):
        for server in servers:
            status, _, body = transport.post(server.url() + "wallet/getnodeinfo", b"{}", {}, 5.0)
            assert (status, json.loads(body)["target"]) == (200, "/wallet/getnodeinfo")
    assert [server.connections for server in servers] == [1] * 6  # each origin kept its connection
    transport.close()
    deadline = time.monotonic() + 5
    while sum(server.closed for server in servers) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [server.closed for server in servers] == [1] * 6


def test_the_chain_adapter_without_a_client_talks_to_the_node_over_urllib3(
    devnet: Devnet, no_proxy_env: pytest.MonkeyPatch
) -> None:
    devnet.chain.produce_blocks(2)
    chain = TronChain(devnet.node_url)
    try:
        with urllib3_requests() as lines:
            head, solid = chain.block_heights()
            assert chain.head_block().number == head >= solid
        opened = [line for line in lines if "new HTTP connection" in line]
        assert len(opened) == 1  # both calls, one keep-alive connection
        assert any('"POST /wallet/getnodeinfo' in line for line in lines)
        assert any('"POST /wallet/getblock' in line for line in lines)
        assert not any('"POST /wallet/getnowblock' in line for line in lines)
    finally:
        chain.close()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ChainUnavailable, match="NewConnectionError"):
        TronChain(f"http://127.0.0.1:{port}/").head_block_number()


def test_the_worker_runtime_sends_node_traffic_over_urllib3_not_the_providers_client(
    devnet: Devnet, tmp_path: Path, no_proxy_env: pytest.MonkeyPatch
) -> None:
    with stack(devnet, tmp_path, no_proxy_env) as (rt, _):
        through_providers_client: list[str] = []
        rt.http.event_hooks["request"].append(lambda r: through_providers_client.append(r.url.path))
        with urllib3_requests() as lines:
            assert rt.chain.head_block().number >= 1
        assert through_providers_client == []
        assert any('"POST /wallet/getblock' in line for line in lines)


HEAD_ID = f"{77:016x}" + "9a" * 24
HEADER = {"blockID": HEAD_ID, "block_header": {"raw_data": {"number": 77, "timestamp": 1_700_000_000_000}}}


def test_the_head_is_read_as_a_header_without_its_transactions(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    """``getblock`` without ``id_or_num`` and with ``detail: false`` (java-tron ``Wallet.getBlock``): the head
    without its transactions; ``getnowblock`` would send every transaction of the block."""
    server = serve(lambda h, seen: answer(h, 200, json.dumps(HEADER).encode()))
    chain = TronChain(server.url())
    try:
        head = chain.head_block()
    finally:
        chain.close()
    assert (head.number, head.timestamp_ms, head.block_id) == (77, 1_700_000_000_000, HEAD_ID)
    asked = [(r.target, json.loads(r.body)) for r in server.requests]
    assert asked == [("/wallet/getblock", {"detail": False})]


def test_the_solid_lag_is_kept_from_the_last_heights_read_for_a_minute(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    """The first wait after a broadcast needs only how far the solid block trails the head: what the
    waiting sweeps' ``getnodeinfo`` reads (``block_heights``) last saw, asked again only after a minute."""
    info = {"block": "Num:120,ID:" + "01" * 32, "solidityBlock": "Num:102,ID:" + "02" * 32}
    server = serve(lambda h, seen: answer(h, 200, json.dumps(info).encode()))
    chain = TronChain(server.url())
    try:
        assert chain.solid_lag() == 18  # nothing known yet: asked
        assert chain.solid_lag() == 18  # kept
        assert chain.block_heights() == (120, 102)  # a waiting sweep's look reads the heights...
        assert chain.solid_lag() == 18  # ...and the lag comes from it
        assert len(server.requests) == 2
        chain._cache["solid_lag"] = (time.monotonic() - tron.SOLID_LAG_TTL_S, 18)  # a minute later
        assert chain.solid_lag() == 18
    finally:
        chain.close()
    assert [r.target for r in server.requests] == ["/wallet/getnodeinfo"] * 3


@pytest.mark.parametrize(
    "old_answer",
    [(404, b"<html>Not Found</html>"), (200, b"{}"), (200, b'{"Error": "no such method"}')],
    ids=["no-such-path", "empty", "error"],
)
def test_a_node_without_getblock_is_asked_getnowblock(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch, old_answer: tuple[int, bytes]
) -> None:
    def old_node(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        if seen.target == "/wallet/getblock":
            answer(handler, *old_answer)
        else:
            answer(handler, 200, json.dumps({**HEADER, "transactions": []}).encode())

    server = serve(old_node)
    chain = TronChain(server.url())
    try:
        assert chain.head_block().number == 77
    finally:
        chain.close()
    assert [r.target for r in server.requests] == ["/wallet/getblock", "/wallet/getnowblock"]


def test_a_node_that_rate_limits_the_head_read_is_not_asked_twice(
    serve: Callable[..., Server], no_proxy_env: pytest.MonkeyPatch
) -> None:
    server = serve(lambda h, seen: answer(h, 429, b"slow down", {"Retry-After": "2"}))
    chain = TronChain(server.url())
    try:
        with pytest.raises(ChainUnavailable, match="HTTP 429"):
            chain.head_block()
    finally:
        chain.close()
    assert [r.target for r in server.requests] == ["/wallet/getblock"]
