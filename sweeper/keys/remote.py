"""Signing by the signer service (``sweeper signer``), the only process that holds keys in production.

Protocol (docs/SECURITY.md §4), every request HMAC-authenticated (``sweeper/custody/auth.py``):

- ``POST {url}/v1/sign`` ``{"address", "raw_data", "intent"}`` → ``{"txid", "signature"}``: the service
  recomputes the txid from ``raw_data`` and signs only what its policy allows; it never signs a bare
  hash.
- ``POST {url}/v1/can-sign`` ``{"address"}`` → ``{"address", "holds": true}``: the spend guards' probe
  ("can this sweep finish?") — nothing is signed.

The client has an ``httpx.Client`` of its own (never the one shared with the node and the providers),
and checks that every signature recovers to the address over the txid it computed itself, so a
confused or hostile service cannot slip in another key or another transaction.

    transport error, timeout, HTTP 5xx            SignerUnavailable (retry)
    HTTP 429 (per-address rate limit)             SigningThrottled (retry later)
    HTTP 404                                      UnknownKey
    HTTP 403 (policy)                             SigningRefused (reason = the policy's slug)
    HTTP 401 (authentication), other 4xx, a bad   SignerRejected
    body or a signature by another key
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from sweeper.chain import txid as local_txid
from sweeper.chain.intent import Intent
from sweeper.custody.auth import check_key, sign_request
from sweeper.errors import SigningRefused, SigningThrottled
from sweeper.keys.errors import SignerRejected, SignerUnavailable, UnknownKey
from sweeper.keys.local import recover_address

_HEX = frozenset("0123456789abcdefABCDEF")
SIGN_PATH, CAN_SIGN_PATH = "/v1/sign", "/v1/can-sign"


class SignerClient:
    """The worker's side of the signer service: its own HTTP client and the request key."""

    __slots__ = ("__key", "_http", "_url")

    def __init__(
        self,
        url: str,
        key: bytes,
        *,
        timeout: float = 10.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport`` only for tests (an in-memory service); the client is always this one's own."""
        self._url = url.rstrip("/")
        self.__key = check_key(key)
        self._http = httpx.Client(timeout=timeout, verify=verify, trust_env=False, transport=transport)

    @property
    def url(self) -> str:
        return self._url

    def post(self, path: str, body: Mapping[str, Any], address: str) -> dict[str, Any]:
        """POST ``body`` signed; the JSON answer of a 200, or the error the status maps to."""
        data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        headers = {"content-type": "application/json", **sign_request(self.__key, "POST", path, data)}
        try:
            response = self._http.post(self._url + path, content=data, headers=headers)
        except httpx.HTTPError as exc:
            raise SignerUnavailable(f"signer service unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        answer = _json(response)
        reason = str(answer.get("reason") or "")[:64]
        if status == 429:
            raise SigningThrottled(f"signer service rate-limits {address}: {reason or 'retry later'}")
        if status >= 500:
            raise SignerUnavailable(f"signer service answered HTTP {status}")
        if status == 404:
            raise UnknownKey(f"signer service holds no key for {address}")
        if status == 403:
            raise SigningRefused(
                f"signer service refused for {address}: {reason} ({str(answer.get('detail', ''))[:300]})",
                reason=f"signer_{reason}" if reason else "signing_refused",
            )
        if status != 200:
            raise SignerRejected(f"signer service refused the request for {address}: HTTP {status} {reason}")
        return answer

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"SignerClient(url={self._url!r})"

    def __reduce__(self) -> Any:
        raise TypeError("the signer client holds the request key and cannot be pickled or copied")


class RemoteSigner:
    """A ``Signer`` for one address whose key lives in the signer service."""

    __slots__ = ("_address", "_client")

    def __init__(self, address: str, client: SignerClient) -> None:
        self._address = address
        self._client = client

    @property
    def address(self) -> str:
        return self._address

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        digest = bytes.fromhex(local_txid.txid(raw_data))
        body = {"address": self._address, "raw_data": dict(raw_data), "intent": intent.to_json()}
        answer = self._client.post(SIGN_PATH, body, self._address)
        signature = _signature(answer)
        if answer.get("txid") != digest.hex() or recover_address(digest, signature) != self._address:
            raise SignerRejected(f"signer service returned a signature that is not {self._address}'s")
        return signature

    def probe(self) -> None:
        answer = self._client.post(CAN_SIGN_PATH, {"address": self._address}, self._address)
        if answer.get("holds") is not True or answer.get("address") != self._address:
            raise SignerRejected(f"signer service did not confirm it can sign for {self._address}")

    def __repr__(self) -> str:
        return f"RemoteSigner(address={self._address!r}, url={self._client.url!r})"


class RemoteKeyring:
    """Hands out ``RemoteSigner``s; whether the service holds the key is learned by ``probe``."""

    __slots__ = ("_client",)

    def __init__(self, client: SignerClient) -> None:
        self._client = client

    def signer_for(self, address: str) -> RemoteSigner:
        return RemoteSigner(address, self._client)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"RemoteKeyring(url={self._client.url!r})"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _signature(answer: Mapping[str, Any]) -> bytes:
    value = answer.get("signature")
    if not isinstance(value, str):
        raise SignerRejected("signer service answered without a signature")
    value = value.removeprefix("0x")
    if len(value) != 130 or not set(value) <= _HEX:
        raise SignerRejected("signer service answered with a malformed signature")
    raw = bytes.fromhex(value)
    v = raw[64] - 27 if raw[64] >= 27 else raw[64]
    return raw[:64] + bytes([v])
