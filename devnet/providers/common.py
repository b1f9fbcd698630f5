"""Pieces shared by the provider simulators: signing, canonical JSON, pools, prices, money, guarded endpoints.

Each provider signs differently (docs/PROVIDERS.md §2.1, §3.1, §4.1); the helpers here are the devnet's
own implementation of those algorithms, checked against the providers' documented test vectors in
tests/unit/test_devnet_providers_signing.py.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from devnet.crypto import is_address, priv_to_address

SUN_PER_TRX = 1_000_000
TIMESTAMP_TOLERANCE_S = 300

# The sample credentials printed in the providers' own documents, so their sample code runs unchanged.
ITRX_API_KEY = "B433BFF1CDE7450AA38A56BEAC690DD4"
ITRX_API_SECRET = "0285A2741D0E76E2E187260EB23E51851D48403A756333E7D0CF845406ABF3E8"
EA888FEE_API_KEY = "Z302rm68PvaqTm6Z"
EA888FEE_API_SECRET = "1864fb62564c8e516ecad98b001918b1feddf3d6e5ab93b1de20f7cdb3f8e159"
TRONZAP_API_TOKEN = "your_api_token"
TRONZAP_API_SECRET = "your_api_secret"

# Default unit prices, deliberately different per provider so a cost policy has a cheapest choice:
# ea888fee is cheapest for 1H (but its minimum order is 65,000), tronzap next, itrx last. They are sun per
# energy except ea888fee's, which are listed in its own unit: it charges 860,000 / (36 * 65,000) ≈ 0.3675
# sun per energy per listed unit (its document's example), so its listed 122 costs about 44.8 sun.
DEFAULT_PRICES: dict[str, dict[str, int]] = {
    "itrx": {"1H": 60, "1D": 90, "3D": 80, "30D": 70},
    "ea888fee": {"1H": 122, "1D": 272},
    "tronzap": {"1H": 52, "24H": 85},
}
DEFAULT_BALANCE_SUN = 10_000_000 * SUN_PER_TRX
PERIOD_SECONDS = {"1H": 3_600, "24H": 86_400, "1D": 86_400, "3D": 3 * 86_400, "30D": 30 * 86_400}


def compact_json(obj: Any, *, sort_keys: bool = True) -> str:
    """`json.dumps` with sorted keys and no whitespace: the canonical form itrx and ea888fee sign."""
    return json.dumps(obj, sort_keys=sort_keys, separators=(",", ":"))


def hmac_sha256_hex(secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 keyed with the secret *string* (never hex-decoded)."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def itrx_message(timestamp: str, params: Mapping[str, Any] | None) -> str:
    """`TIMESTAMP&compact-sorted-json`; an empty body signs as `TIMESTAMP&`."""
    return f"{timestamp}&{compact_json(params) if params else ''}"


def itrx_signature(secret: str, timestamp: str, params: Mapping[str, Any] | None) -> str:
    return hmac_sha256_hex(secret, itrx_message(timestamp, params))


def ea888fee_canonical(params: Mapping[str, Any] | None) -> str:
    """Empty values dropped, keys sorted, compact; `{}` when nothing is left (docs/PROVIDERS.md §3.1)."""
    kept = {k: v for k, v in (params or {}).items() if not _is_empty(v)}
    return compact_json(kept) if kept else "{}"


def ea888fee_signature(secret: str, timestamp: str, params: Mapping[str, Any] | None) -> str:
    return hmac_sha256_hex(secret, f"{timestamp}&{ea888fee_canonical(params)}")


def tronzap_signature(raw_body: bytes | str, secret: str) -> str:
    """Plain SHA-256 of the exact body bytes followed by the secret (no HMAC, no timestamp)."""
    body = raw_body.encode() if isinstance(raw_body, str) else raw_body
    return hashlib.sha256(body + secret.encode()).hexdigest()


def _is_empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def signature_matches(expected: str, given: str | None) -> bool:
    """Constant-time compare; the header may come in either case."""
    return given is not None and hmac.compare_digest(expected, given.strip().lower())


def timestamp_fresh(timestamp: str | None, *, now: float | None = None) -> bool:
    """True for a Unix-seconds timestamp within ±300 s of now (ms timestamps are rejected as stale)."""
    if not timestamp or not timestamp.strip().isdigit():
        return False
    current = time.time() if now is None else now
    return abs(int(timestamp) - current) <= TIMESTAMP_TOLERANCE_S


def is_tron_address(value: Any) -> bool:
    """A 34-character base58check `T…` address, as every provider requires."""
    return isinstance(value, str) and len(value) == 34 and value.startswith("T") and is_address(value)


def parse_json_object(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, `{}` for an empty body, None when it is not a JSON object."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def as_int(value: Any) -> int | None:
    """An int from an int or a digit string (clients differ); None for anything else, bools included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def sun_to_trx(sun: int) -> Decimal:
    """Exact TRX decimal for display in TronZap's TRX-denominated fields."""
    return Decimal(sun) / SUN_PER_TRX


def trx_number(sun: int) -> float | int:
    """A JSON number in TRX; sun amounts here are multiples of 10 sun, so the float is exact enough."""
    value = sun_to_trx(sun)
    return int(value) if value == value.to_integral_value() else float(value)


def trx_string(sun: int) -> str:
    """TRX as a numeric string with at least two decimals, as TronZap's check endpoint returns it."""
    text = format(sun_to_trx(sun).normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def period_seconds(period: str, time_scale: float) -> float:
    """How long a rental lasts in this devnet: the real period times the time scale."""
    return PERIOD_SECONDS[period] * time_scale


@dataclass
class Account:
    """The simulated customer account at a provider: one credential pair, one balance in sun."""

    api_key: str
    secret: str
    balance: int = DEFAULT_BALANCE_SUN
    callback_url: str | None = None
    spent: int = 0
    orders: int = 0
    energy: int = 0
    created: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def debit(self, sun: int, energy: int = 0) -> None:
        with self.lock:
            self.balance -= sun
            self.spent += sun
            self.orders += 1
            self.energy += energy

    def refund(self, sun: int) -> None:
        """Refunds come from the block thread, orders from the HTTP thread."""
        with self.lock:
            self.balance += sun
            self.spent -= sun


POOL_TRX_SUN = 1_000_000 * SUN_PER_TRX
POOL_STAKE_SUN = 1_000_000_000 * SUN_PER_TRX  # 10^10 energy at 100,000 sun per energy


def pool_address(name: str) -> str:
    """A deterministic pool address per provider, so logs and persisted state stay readable."""
    return priv_to_address(hashlib.sha256(f"devnet-provider-pool:{name}".encode()).digest())


def ensure_pool(
    chain: Any, name: str, *, trx_sun: int = POOL_TRX_SUN, stake_sun: int = POOL_STAKE_SUN
) -> str:
    """Create the provider's staked pool account on the chain unless it already exists (persisted state)."""
    address = pool_address(name)
    if not chain.account_exists(address):
        chain.create_pool(address, trx_sun, stake_sun)
    return address


def merged_prices(prices: Mapping[str, Mapping[str, int]] | None) -> dict[str, dict[str, int]]:
    """Defaults overlaid with the caller's per-provider, per-period prices (sun per energy)."""
    result = {name: dict(table) for name, table in DEFAULT_PRICES.items()}
    for name, table in (prices or {}).items():
        result.setdefault(name, {}).update({period: int(p) for period, p in table.items()})
    return result


def stopping(*stops: Callable[[], None]) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A Starlette lifespan that runs the given stop functions (background threads) at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for stop in stops:
                stop()

    return lifespan


def known_code(forced: int | str | None, known: Container[int], fallback: int) -> int | None:
    """A forced ``error_code`` as one of the provider's codes: itself if it is one, else ``fallback``."""
    if forced is None:
        return None
    code = as_int(forced)
    return code if code is not None and code in known else fallback


class Guarded(Protocol):
    def _refused(self, request: Request) -> Response | None: ...


G = TypeVar("G", bound=Guarded)


def checked(
    handler: Callable[[G, Request], Awaitable[Response]],
) -> Callable[[G, Request], Awaitable[Response]]:
    """An endpoint that first answers the refusal of the simulator's ``_refused(request)`` (credentials)."""

    @functools.wraps(handler)
    async def endpoint(self: G, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        return await handler(self, request)

    return endpoint
