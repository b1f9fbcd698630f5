"""The chain adapter's error map: complete over tronpy and httpx, and right for each failure shape."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable

import httpx
import pytest
import tronpy.exceptions
import urllib3.exceptions

from sweeper.chain import TronChain
from sweeper.chain.errors import EXCEPTIONS, NODE_CODES, from_node_code, translate
from sweeper.chain.transport import NodeProvider, Urllib3NodeHttp
from sweeper.chain.txid import txid as local_txid
from sweeper.errors import (
    AccountNotActivated,
    BadTransactionSignature,
    ChainRejected,
    ChainUnavailable,
    InvalidAddress,
    SweeperError,
    TransientError,
)
from sweeper.models import BroadcastOutcome, Resources, SignedTx

pytestmark = pytest.mark.unit

ADDRESS = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"
NODE = "http://node.test/"


def _tronpy_exception_classes() -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(tronpy.exceptions, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == tronpy.exceptions.__name__
    ]


def _defined_under(package: str, roots: list[type[BaseException]]) -> list[type[BaseException]]:
    """``roots`` and all their subclasses that ``package`` defines, by name."""
    seen: set[type[BaseException]] = set()
    stack = list(roots)
    while stack:
        cls = stack.pop()
        if cls in seen or not cls.__module__.startswith(package):
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: c.__name__)


def _httpx_exception_classes() -> list[type[BaseException]]:
    roots = [getattr(httpx, name) for name in httpx.__all__]
    return _defined_under("httpx", [c for c in roots if inspect.isclass(c) and issubclass(c, BaseException)])


def _urllib3_exception_classes() -> list[type[BaseException]]:
    """Every exception class urllib3 defines (its warnings are not raised), with their subclasses."""
    roots = [
        obj
        for _, obj in inspect.getmembers(urllib3.exceptions, inspect.isclass)
        if issubclass(obj, Exception) and not issubclass(obj, Warning)
    ]
    return _defined_under("urllib3", roots)


@pytest.mark.parametrize("cls", _tronpy_exception_classes(), ids=lambda c: c.__name__)
def test_every_tronpy_exception_has_its_own_entry_in_the_map(cls: type[BaseException]) -> None:
    assert cls in EXCEPTIONS, f"tronpy.exceptions.{cls.__name__} is not mapped in sweeper/chain/errors.py"
    assert issubclass(EXCEPTIONS[cls], SweeperError)


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_exception_has_its_own_entry_in_the_map(cls: type[BaseException]) -> None:
    assert cls in EXCEPTIONS, f"httpx.{cls.__name__} is not mapped in sweeper/chain/errors.py"
    assert issubclass(EXCEPTIONS[cls], SweeperError)


@pytest.mark.parametrize("cls", _urllib3_exception_classes(), ids=lambda c: c.__name__)
def test_every_urllib3_exception_is_a_failure_the_node_transport_reports_as_unavailable(
    cls: type[BaseException],
) -> None:
    assert issubclass(cls, Urllib3NodeHttp.failures), f"urllib3.exceptions.{cls.__name__} escapes"


class _Failing:
    """A ``NodeHttp`` whose every POST raises ``exc`` (what the urllib3 transport lets out)."""

    failures = Urllib3NodeHttp.failures

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def post(self, url: str, body: bytes, headers: object, timeout: float) -> tuple[int, str | None, bytes]:
        raise self.exc

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.MaxRetryError(None, "http://user:secret@node.test/wallet/x"),  # type: ignore[arg-type]
        urllib3.exceptions.ProxyError("Unable to connect to proxy", OSError("proxy.test refused")),
        urllib3.exceptions.SSLError("certificate verify failed for node.test"),
        urllib3.exceptions.DecodeError("bad gzip from node.test"),
        urllib3.exceptions.LocationParseError("http://user:secret@node.test:x/"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_urllib3_failure_is_unavailable_naming_the_method_and_class_never_the_url(
    exc: BaseException,
) -> None:
    node = NodeProvider("http://user:secret@node.test/", http=_Failing(exc))  # type: ignore[arg-type]
    with pytest.raises(ChainUnavailable) as info:
        node.make_request("wallet/broadcasttransaction", {})
    assert str(info.value) == f"wallet/broadcasttransaction: no answer from the node: {type(exc).__name__}"
    assert info.value.__cause__ is exc


def test_the_class_walks_find_the_upstream_classes_we_know() -> None:
    assert {tronpy.exceptions.AddressNotFound, tronpy.exceptions.TaposError} <= set(
        _tronpy_exception_classes()
    )
    assert {httpx.ReadTimeout, httpx.HTTPStatusError, httpx.InvalidURL} <= set(_httpx_exception_classes())


def test_every_transport_failure_is_transient() -> None:
    for cls in _httpx_exception_classes():
        if issubclass(cls, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
            assert issubclass(EXCEPTIONS[cls], ChainUnavailable), cls


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (tronpy.exceptions.AddressNotFound("account not found on-chain"), AccountNotActivated),
        (tronpy.exceptions.BadSignature("Validate signature error: sig error"), BadTransactionSignature),
        (
            tronpy.exceptions.BadKey("provided private key is not in the permission list"),
            BadTransactionSignature,
        ),
        (tronpy.exceptions.TransactionError("Transaction expired"), ChainRejected),
        (tronpy.exceptions.TransactionError("Too big transaction"), ChainRejected),
        (tronpy.exceptions.UnknownError("Dup transaction.", "DUP_TRANSACTION_ERROR"), ChainRejected),
        (tronpy.exceptions.UnknownError("Server busy.", "SERVER_BUSY"), ChainUnavailable),
        (tronpy.exceptions.UnknownError("No connection.", "NO_CONNECTION"), ChainUnavailable),
        (
            tronpy.exceptions.UnknownError("Account resource insufficient error.", "BANDWITH_ERROR"),
            ChainUnavailable,
        ),
        (tronpy.exceptions.TaposError("Tapos check error."), ChainUnavailable),
        (
            tronpy.exceptions.ValidationError("Contract validate error : balance is not sufficient."),
            ChainRejected,
        ),
        (
            tronpy.exceptions.ValidationError(
                f"Contract validate error : account [{ADDRESS}] does not exist"
            ),
            AccountNotActivated,
        ),
        (tronpy.exceptions.ValidationError("Smart contract is not exist."), ChainRejected),
        (tronpy.exceptions.BadAddress("bad base58check format"), InvalidAddress),
        (tronpy.exceptions.ApiError("class java.lang.NullPointerException : null"), ChainRejected),
        (tronpy.exceptions.TvmError("REVERT opcode executed"), ChainRejected),
        (httpx.ReadTimeout("timed out"), ChainUnavailable),
        (httpx.ConnectError("connection refused"), ChainUnavailable),
        (httpx.UnsupportedProtocol("no scheme"), ChainRejected),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.__name__,
)
def test_an_upstream_exception_becomes_its_project_error(
    exc: BaseException, expected: type[SweeperError]
) -> None:
    mapped = translate(exc, "op")
    assert type(mapped) is expected
    assert str(mapped).startswith("op: ")


@pytest.mark.parametrize("code", sorted(NODE_CODES))
def test_every_node_result_code_maps_to_its_listed_error(code: str) -> None:
    assert type(from_node_code(code, "text")) is NODE_CODES[code]


def test_an_unknown_node_code_is_a_permanent_rejection_named_after_the_code() -> None:
    error = from_node_code("SOMETHING_NEW", "text")
    assert type(error) is ChainRejected
    assert error.reason == "something_new"


def test_delegating_to_a_missing_receiver_is_reported_as_not_activated() -> None:
    error = from_node_code(
        "CONTRACT_VALIDATE_ERROR", "Account[41ae72a48c1a36bd18af168541c53037965d26e4a8] not exists"
    )
    assert isinstance(error, AccountNotActivated)


def _chain(handler: Callable[[httpx.Request], httpx.Response]) -> TronChain:
    return TronChain(NODE, http=httpx.Client(transport=httpx.MockTransport(handler)))


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_a_server_side_http_status_is_transient(status: int) -> None:
    chain = _chain(lambda request: httpx.Response(status, text="busy"))
    with pytest.raises(ChainUnavailable) as info:
        chain.is_activated(ADDRESS)
    assert isinstance(info.value, TransientError)
    assert str(status) in str(info.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_any_other_http_status_of_a_read_is_transient_too_never_a_verdict(status: int) -> None:
    chain = _chain(lambda request: httpx.Response(status))
    with pytest.raises(ChainUnavailable) as info:
        chain.trx_balance(ADDRESS)
    assert info.value.reason == f"http_{status}"


@pytest.mark.parametrize(
    ("status", "header", "wait"),
    [(403, "30", 30.0), (429, "7", 7.0), (503, "120", 120.0), (429, None, None), (403, "soon", None)],
)
def test_a_rate_limit_names_the_wait_the_node_asked_for(
    status: int, header: str | None, wait: float | None
) -> None:
    headers = {"Retry-After": header} if header else {}
    chain = _chain(lambda request: httpx.Response(status, headers=headers, text="rate limited"))
    with pytest.raises(ChainUnavailable) as info:
        chain.resources(ADDRESS)
    assert info.value.retry_after == wait


def test_java_trons_own_limiter_body_is_a_transient_rate_limit() -> None:
    body = {"Error": "class java.lang.IllegalAccessException : lack of computing resources"}
    chain = _chain(lambda request: httpx.Response(200, json=body))
    with pytest.raises(ChainUnavailable) as info:
        chain.is_activated(ADDRESS)
    assert info.value.reason == "node_rate_limited"


def test_an_http_error_message_never_carries_the_url() -> None:
    chain = TronChain(
        "http://node.test/SECRET-KEY-IN-PATH/",
        http=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503))),
    )
    with pytest.raises(ChainUnavailable) as info:
        chain.head_block_number()
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError]
)
def test_a_network_failure_is_transient(failure: type[httpx.TransportError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure("boom", request=request)

    with pytest.raises(ChainUnavailable) as info:
        _chain(handler).resources(ADDRESS)
    assert isinstance(info.value.__cause__, failure)


def test_a_body_that_is_not_json_is_transient() -> None:
    chain = _chain(lambda request: httpx.Response(200, text="<html>gateway</html>"))
    with pytest.raises(ChainUnavailable):
        chain.is_activated(ADDRESS)


def test_any_other_java_error_body_of_a_read_is_transient() -> None:
    chain = _chain(
        lambda request: httpx.Response(200, json={"Error": "class java.lang.NullPointerException"})
    )
    with pytest.raises(ChainUnavailable) as info:
        chain.is_activated(ADDRESS)
    assert info.value.reason == "node_error"


def test_a_missing_account_reads_as_not_activated_with_no_balance_and_no_resources() -> None:
    chain = _chain(lambda request: httpx.Response(200, json={}))
    assert chain.is_activated(ADDRESS) is False
    assert chain.trx_balance(ADDRESS) == 0
    assert chain.resources(ADDRESS) == Resources(0)


def test_an_invalid_address_is_refused_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    chain = _chain(handler)
    for bad in [
        "",
        "T123",
        "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr4",
        "4162f94e9ac9349bccc61bfe66ddade6292702ecb6",
    ]:
        with pytest.raises(InvalidAddress):
            chain.is_activated(bad)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"code": "SIGERROR", "message": b"Validate signature error: sig error".hex()},
            BadTransactionSignature,
        ),
        ({"code": "TAPOS_ERROR", "message": b"Tapos check error.".hex()}, ChainUnavailable),
        ({"code": "SERVER_BUSY", "message": b"Server busy.".hex()}, ChainUnavailable),
        (
            {
                "code": "CONTRACT_VALIDATE_ERROR",
                "message": f"Contract validate error : account [{ADDRESS}] does not exist".encode().hex(),
            },
            AccountNotActivated,
        ),
    ],
    ids=lambda v: v["code"] if isinstance(v, dict) else v.__name__,
)
def test_a_broadcast_refusal_maps_by_its_node_code(
    answer: dict[str, str], expected: type[SweeperError]
) -> None:
    tx = _stored_transfer()
    chain = _chain(lambda request: httpx.Response(200, json={**answer, "txid": tx.txid}))
    with pytest.raises(expected) as info:
        chain.broadcast(tx)
    assert tx.txid in str(info.value)


def test_a_stored_transaction_that_no_longer_matches_its_txid_is_never_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    tx = _stored_transfer()
    tampered = json.loads(tx.raw_json)
    tampered["raw_data"]["contract"][0]["parameter"]["value"]["amount"] += 1
    for raw_json in (json.dumps(tampered), "{not json", "{}"):
        with pytest.raises(ChainRejected) as info:
            _chain(handler).broadcast(SignedTx(tx.txid, raw_json, tx.expiration_ms))
        assert info.value.reason == "malformed_tx"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("DUP_TRANSACTION_ERROR", BroadcastOutcome.ALREADY_KNOWN),
        ("TRANSACTION_EXPIRATION_ERROR", BroadcastOutcome.EXPIRED),
        ("BANDWITH_ERROR", BroadcastOutcome.NO_BANDWIDTH),
    ],
)
def test_a_broadcast_the_node_already_holds_or_calls_expired_is_an_outcome_not_an_error(
    code: str, outcome: BroadcastOutcome
) -> None:
    tx = _stored_transfer()
    chain = _chain(lambda request: httpx.Response(200, json={"code": code, "txid": tx.txid}))
    assert chain.broadcast(tx) is outcome


def test_an_accepted_broadcast_is_sent() -> None:
    tx = _stored_transfer()
    chain = _chain(lambda request: httpx.Response(200, json={"result": True, "txid": tx.txid}))
    assert chain.broadcast(tx) is BroadcastOutcome.SENT


def _stored_transfer() -> SignedTx:
    raw = {
        "contract": [
            {
                "parameter": {
                    "value": {"owner_address": "41" + "11" * 20, "to_address": "41" + "22" * 20, "amount": 5},
                    "type_url": "type.googleapis.com/protocol.TransferContract",
                },
                "type": "TransferContract",
            }
        ],
        "timestamp": 1,
        "expiration": 60_001,
        "ref_block_bytes": "0001",
        "ref_block_hash": "00" * 8,
    }
    txid = local_txid(raw)
    stored = {"txID": txid, "raw_data": raw, "signature": ["00" * 65], "permission": None}
    return SignedTx(txid=txid, raw_json=json.dumps(stored), expiration_ms=60_001)
