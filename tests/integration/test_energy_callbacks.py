"""The devnet's itrx callbacks, as really sent over HTTP, verify with ``sweeper.callbacks`` in both styles."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from devnet.crypto import generate_key
from devnet.providers.common import ITRX_API_KEY, ITRX_API_SECRET
from devnet.server import Devnet
from sweeper.callbacks import event_key, parse_itrx_callback
from sweeper.energy.http import ProviderHttp
from sweeper.energy.itrx import ItrxClient
from sweeper.errors import CallbackRejected
from sweeper.models import OrderStatus

pytestmark = pytest.mark.integration

Received = tuple[dict[str, str], bytes]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, queue.Queue[Received]]]:
    """A plain HTTP endpoint that records each callback and answers 200."""
    inbox: queue.Queue[Received] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            inbox.put((dict(self.headers.items()), body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callbacks/itrx", inbox
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def node() -> Iterator[Devnet]:
    with Devnet(port=0, block_time=0.2, solid_depth=2) as devnet:
        yield devnet


@pytest.mark.parametrize("style", ["compact", "spaced"])
def test_a_real_itrx_callback_verifies_and_names_our_order(style, node, receiver):
    url, inbox = receiver
    with httpx.Client(timeout=10) as http:
        http.post(
            f"{node.itrx_url}/devnet/provider-faults", json={"callback_style": style}
        ).raise_for_status()
        _, address = generate_key()
        http.post(
            node.node_url + "devnet/fund", json={"address": address, "sun": 1_000_000}
        ).raise_for_status()
        itrx = ItrxClient(
            ProviderHttp(http, node.itrx_url, provider="itrx"),
            api_key=ITRX_API_KEY,
            api_secret=ITRX_API_SECRET,
            callback_url=url,
        )
        order = itrx.order(f"cb-{style}", address, 65_000)
        headers, body = inbox.get(timeout=20)
    event = parse_itrx_callback(headers, body, secret=ITRX_API_SECRET, now=time.time())
    assert event.serial == order.provider_order_id
    assert event.out_trade_no == f"cb-{style}"
    assert event.receive_address == address
    assert event.status is OrderStatus.DELIVERED and event.txid
    assert event_key(event).startswith("itrx:")
    with pytest.raises(CallbackRejected):
        parse_itrx_callback(
            headers, body.replace(address.encode(), b"T" * 34), secret=ITRX_API_SECRET, now=time.time()
        )
