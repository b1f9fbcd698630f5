"""Every upstream failure of the chain adapter, mapped into ``sweeper.errors`` at the boundary.

    upstream                                          project error
    ────────                                          ─────────────
    transport errors and timeouts (urllib3's in       ChainUnavailable      (retry; a read never fails
    transport.py, httpx's here), any HTTP error                             a sweep, docs/TRON.md §10)
    status, {"Error"} bodies (transport.py)
    node codes SERVER_BUSY, NO_CONNECTION, …          ChainUnavailable
    BANDWITH_ERROR (outside a broadcast)              ChainUnavailable      (bandwidth recovers; a
                                                      broadcast returns it as NO_BANDWIDTH)
    TAPOS_ERROR / TaposError                          ChainUnavailable      (a fresh build fixes it)
    tronpy AddressNotFound                            AccountNotActivated
    CONTRACT_VALIDATE_ERROR "account … not exist"     AccountNotActivated
    SIGERROR / BadSignature / BadKey                  BadTransactionSignature
    TRANSACTION_EXPIRATION_ERROR, DUP_TRANSACTION_ERROR  ChainRejected     (outside a broadcast; a
                                                      broadcast returns them as BroadcastOutcome values)
    BadAddress                                        InvalidAddress
    any other node code, ValidationError, TvmError    ChainRejected         (fail, record the reason)

``EXCEPTIONS`` names every exception class of ``tronpy.exceptions`` and ``httpx`` explicitly; a unit test
fails when upstream adds one, so nothing escapes unmapped. The default node transport (``urllib3``,
``sweeper/chain/transport.py``) turns its own failures into ``ChainUnavailable`` before they get here; a
unit test walks ``urllib3.exceptions`` likewise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from tronpy import exceptions as tx

from sweeper.errors import (
    AccountNotActivated,
    BadTransactionSignature,
    ChainRejected,
    ChainUnavailable,
    InvalidAddress,
    SweeperError,
)

NODE_CODES: dict[str, type[SweeperError]] = {
    # java-tron ``Return.response_code``; SUCCESS (0) never reaches here.
    "SIGERROR": BadTransactionSignature,
    "CONTRACT_VALIDATE_ERROR": ChainRejected,
    "CONTRACT_EXE_ERROR": ChainRejected,
    "BANDWITH_ERROR": ChainUnavailable,
    "DUP_TRANSACTION_ERROR": ChainRejected,
    "TAPOS_ERROR": ChainUnavailable,
    "TOO_BIG_TRANSACTION_ERROR": ChainRejected,
    "TRANSACTION_EXPIRATION_ERROR": ChainRejected,
    "SERVER_BUSY": ChainUnavailable,
    "NO_CONNECTION": ChainUnavailable,
    "NOT_ENOUGH_EFFECTIVE_CONNECTION": ChainUnavailable,
    "BLOCK_UNSOLIDIFIED": ChainUnavailable,
    "OTHER_ERROR": ChainRejected,
}

EXCEPTIONS: dict[type[BaseException], type[SweeperError]] = {
    # tronpy.exceptions
    tx.BadAddress: InvalidAddress,
    tx.BadKey: BadTransactionSignature,
    tx.BadSignature: BadTransactionSignature,
    tx.BadHash: ChainRejected,
    tx.TaposError: ChainUnavailable,
    tx.UnknownError: ChainRejected,  # refined by its node code
    tx.TransactionError: ChainRejected,  # refined: expiration → reason "expired"
    tx.TvmError: ChainRejected,
    tx.ValidationError: ChainRejected,  # refined: missing account → AccountNotActivated
    tx.ApiError: ChainRejected,
    tx.NotFound: ChainRejected,
    tx.AddressNotFound: AccountNotActivated,
    tx.TransactionNotFound: ChainRejected,
    tx.BlockNotFound: ChainUnavailable,  # a lagging node behind a balancer; another try sees it
    tx.AssetNotFound: ChainRejected,
    tx.DoubleSpending: ChainRejected,
    tx.BugInJavaTron: ChainUnavailable,
    tx.ProtobufImportError: ChainRejected,
    # httpx: the network or the node's HTTP layer
    httpx.HTTPError: ChainUnavailable,
    httpx.RequestError: ChainUnavailable,
    httpx.TransportError: ChainUnavailable,
    httpx.TimeoutException: ChainUnavailable,
    httpx.ConnectTimeout: ChainUnavailable,
    httpx.ReadTimeout: ChainUnavailable,
    httpx.WriteTimeout: ChainUnavailable,
    httpx.PoolTimeout: ChainUnavailable,
    httpx.NetworkError: ChainUnavailable,
    httpx.ConnectError: ChainUnavailable,
    httpx.ReadError: ChainUnavailable,
    httpx.WriteError: ChainUnavailable,
    httpx.CloseError: ChainUnavailable,
    httpx.ProxyError: ChainUnavailable,
    httpx.ProtocolError: ChainUnavailable,
    httpx.RemoteProtocolError: ChainUnavailable,
    httpx.DecodingError: ChainUnavailable,
    httpx.HTTPStatusError: ChainUnavailable,  # any status: rate limits, gateways, disabled endpoints
    # httpx: our own configuration or code is wrong; retrying cannot help
    httpx.LocalProtocolError: ChainRejected,
    httpx.UnsupportedProtocol: ChainRejected,
    httpx.TooManyRedirects: ChainRejected,
    httpx.InvalidURL: ChainRejected,
    httpx.CookieConflict: ChainRejected,
    httpx.StreamError: ChainRejected,
    httpx.StreamConsumed: ChainRejected,
    httpx.StreamClosed: ChainRejected,
    httpx.ResponseNotRead: ChainRejected,
    httpx.RequestNotRead: ChainRejected,
}

_MISSING_ACCOUNT = re.compile(r"account.*(does not exist|not exists?\b)|no owner ?account", re.IGNORECASE)
_UPSTREAM = tuple(EXCEPTIONS)


def from_node_code(code: str, message: str, operation: str = "") -> SweeperError:
    """Map a java-tron result code (and its text) from an HTTP-200 error body."""
    cls = NODE_CODES.get(code, ChainRejected)
    if code == "CONTRACT_VALIDATE_ERROR" and _MISSING_ACCOUNT.search(message):
        cls = AccountNotActivated
    reason = code.lower() if cls in (ChainRejected, ChainUnavailable) else None
    return cls(_join(operation, f"{code}: {message}"), reason=reason)


def translate(exc: BaseException, operation: str = "") -> SweeperError:
    """Return the project error for an upstream exception (its class must be in ``EXCEPTIONS``)."""
    if isinstance(exc, SweeperError):
        return exc
    if isinstance(exc, tx.UnknownError) and len(exc.args) > 1 and isinstance(exc.args[1], str):
        return from_node_code(exc.args[1], str(exc.args[0]), operation)
    if isinstance(exc, tx.ValidationError):
        return from_node_code("CONTRACT_VALIDATE_ERROR", str(exc), operation)
    if isinstance(exc, tx.TransactionError) and "expir" in str(exc).lower():
        return ChainRejected(_join(operation, str(exc)), reason="expired")
    if isinstance(exc, httpx.HTTPStatusError):
        # The message names the status only: URLs may carry credentials of hosted nodes.
        status = exc.response.status_code
        return ChainUnavailable(_join(operation, f"node answered HTTP {status}"), reason=f"http_{status}")
    for klass in type(exc).__mro__:
        if klass in EXCEPTIONS:
            from_tronpy = klass.__module__ == tx.__name__
            detail = (str(exc) or type(exc).__name__) if from_tronpy else f"{type(exc).__name__}: {exc}"
            return EXCEPTIONS[klass](_join(operation, detail))
    return ChainRejected(_join(operation, f"{type(exc).__name__}: {exc}"))


@contextmanager
def translating(operation: str) -> Iterator[None]:
    """Re-raise any mapped upstream exception from the block as its project error."""
    try:
        yield
    except SweeperError:
        raise
    except _UPSTREAM as exc:
        raise translate(exc, operation) from exc


def _join(operation: str, detail: str) -> str:
    return f"{operation}: {detail}" if operation else detail
