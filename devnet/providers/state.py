"""Fault switches the provider apps read on every order, and the `/devnet/provider-faults` admin route.

Generic faults (latency, 5xx, timeouts) are applied by the node's `FaultMiddleware`. The provider-
specific ones come from two places, the shared `Faults` (`error_code`, `insufficient_resources`,
`callbacks`, `callback_delay_s`, `count`) and this module's own switches, which also hold what
`Faults` has no field for:

    drop_response      accept the next order(s), delegate, but answer 504 with no body
    order_outcome      "fail" (itrx 41 / ea888fee ABORT / tronzap failed), "break_off" (itrx 43 /
                       ea888fee BREAK_OFF) or "timeout" (itrx 0): the next order(s) end that way at
                       delivery time, without delegating, and are refunded; itrx only: "partial"
                       (status 31: half the energy is delegated, the rest 3 blocks later) or "retrying"
                       (status 32 for 3 blocks, then delegated as usual): both complete with status 40
    callback_style     "compact" (default) or "spaced" (Python's default separators) for itrx callbacks
    callback_url       the account's default callback URL (itrx's /buyer/me setting)
    error_after_order  create (and charge) the next order(s), then answer this error code anyway: a
                       TronZap body code under HTTP 200, an itrx `errno`, an ea888fee `code`
    query_by_out_trade_no  itrx only; false = a deployment whose order/query knows `serial` only and
                       answers HTTP 400 `{"serial": ["This field is required."]}` otherwise (a mode: kept
                       by DELETE, like callback_style and callback_url)
    balance            set the account balance in sun

Every switch with a count is consumed one order at a time; a count of None means "until cleared".
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

CALLBACK_MODES = ("normal", "drop", "duplicate", "delay")
OUTCOMES = ("fail", "break_off", "timeout", "partial", "retrying")
SLOW_OUTCOMES = ("partial", "retrying")
"""Outcomes that delay an order but complete it: only itrx reports them (statuses 31 and 32)."""


@dataclass
class Switches:
    error_code: int | str | None = None
    insufficient_resources: bool = False
    callbacks: str | None = None
    callback_delay_s: float | None = None
    drop_response: bool = False
    order_outcome: str | None = None
    callback_style: str = "compact"
    callback_url: str | None = None
    error_after_order: int | str | None = None
    query_by_out_trade_no: bool = True
    count: int | None = None


class ProviderFaults:
    """One provider's view of the faults: the shared `Faults` target merged with local switches."""

    def __init__(self, faults: Any, target: str) -> None:
        self._faults = faults
        self.target = target
        self._lock = threading.Lock()
        self.switches = Switches()

    # -- admin ---------------------------------------------------------------------------------
    def set(self, **values: Any) -> None:
        known = {f.name for f in fields(Switches)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown provider fault field(s): {', '.join(sorted(unknown))}")
        if values.get("callbacks") not in (None, *CALLBACK_MODES):
            raise ValueError(f"callbacks must be one of {', '.join(CALLBACK_MODES)}")
        if values.get("order_outcome") not in (None, *OUTCOMES):
            raise ValueError(f"order_outcome must be one of {', '.join(OUTCOMES)}")
        if values.get("order_outcome") in SLOW_OUTCOMES and self.target != "itrx":
            raise ValueError(f"order_outcome {values['order_outcome']!r} is an itrx status (31/32) only")
        if "query_by_out_trade_no" in values and not isinstance(values["query_by_out_trade_no"], bool):
            raise ValueError("query_by_out_trade_no must be true or false")
        if values.get("callback_style") not in (None, "compact", "spaced"):
            raise ValueError("callback_style must be 'compact' or 'spaced'")
        with self._lock:
            for name, value in values.items():
                setattr(self.switches, name, value)

    def clear(self) -> None:
        with self._lock:
            self.switches = self._modes()

    def _modes(self) -> Switches:
        """Fresh switches that keep the account's modes (callback style and URL, query mode)."""
        old = self.switches
        return Switches(
            callback_style=old.callback_style,
            callback_url=old.callback_url,
            query_by_out_trade_no=old.query_by_out_trade_no,
        )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"local": asdict(self.switches), "shared": _as_dict(self._shared())}

    # -- per order -----------------------------------------------------------------------------
    def take_error(self) -> int | str | None:
        """The error code forced on this order, consuming one use of its count."""
        value = self._take("error_code")
        return value if isinstance(value, int | str) else None

    def take_insufficient(self) -> bool:
        return bool(self._take("insufficient_resources"))

    def take_error_after_order(self) -> int | str | None:
        """The error to answer after creating this order, consuming one use of its count."""
        value = self._take("error_after_order")
        return value if isinstance(value, int | str) else None

    @property
    def query_by_out_trade_no(self) -> bool:
        return self.switches.query_by_out_trade_no

    def take_drop_response(self) -> bool:
        return bool(self._take("drop_response"))

    def take_outcome(self) -> str | None:
        value = self._take("order_outcome")
        return str(value) if value else None

    def callback_mode(self) -> tuple[str, float]:
        """(mode, extra delay in seconds) for the next callback; a set mode spends one count."""
        mode = self._take("callbacks")
        if not mode:
            return "normal", 0.0
        with self._lock:
            delay = self.switches.callback_delay_s
        if delay is None:
            delay = float(_field(self._shared(), "callback_delay_s", 0) or 0)
        return str(mode), float(delay)

    @property
    def callback_style(self) -> str:
        return self.switches.callback_style

    @property
    def callback_url(self) -> str | None:
        return self.switches.callback_url

    def _take(self, name: str) -> Any:
        with self._lock:
            value = getattr(self.switches, name)
            if value and value != "normal":
                if self.switches.count is not None:
                    self.switches.count -= 1
                    if self.switches.count <= 0:
                        self.switches = self._modes()
                return value
            shared = self._shared()
            value = _field(shared, name, None)
            if not value or value == "normal":
                return None
            if _field(shared, "count", None) is not None and hasattr(self._faults, "consume"):
                self._faults.consume(self.target)  # one order spent; `Faults` clears it at zero
            return value

    def _shared(self) -> Any:
        if self._faults is None:
            return None
        try:
            return self._faults.get(self.target)
        except (KeyError, AttributeError, TypeError):
            return None


def _field(settings: Any, name: str, default: Any) -> Any:
    if settings is None:
        return default
    if isinstance(settings, Mapping):
        return settings.get(name, default)
    extra = getattr(settings, "extra", None)
    if isinstance(extra, Mapping) and name in extra:
        return extra[name]
    return getattr(settings, name, default)


def _as_dict(settings: Any) -> Any:
    if settings is None or isinstance(settings, Mapping):
        return settings
    try:
        return asdict(settings)
    except TypeError:
        return {k: v for k, v in vars(settings).items() if not k.startswith("_")}


def admin_endpoint(faults: ProviderFaults, account: Any) -> Any:
    """`POST /devnet/provider-faults` sets switches (and `balance`), `DELETE` clears, `GET` shows."""

    async def endpoint(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                if "balance" in body:
                    account.balance = int(body.pop("balance"))
                faults.set(**body)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({**faults.snapshot(), "balance": account.balance})

    return endpoint
