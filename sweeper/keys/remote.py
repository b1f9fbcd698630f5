"""Signing by a separate service that holds the keys (an HSM front, a signing daemon, a KMS bridge).

Protocol: ``POST {url}/sign`` with ``{"address": "T…", "digest": "<64 hex>"}`` answers
``{"signature": "<130 hex>"}`` (v 0/1 or 27/28; normalised to 0/1 here). Every signature is checked to
recover to the address before it is returned, so a confused or hostile signer cannot slip in another key.
Authentication (headers, mTLS) is configured on the injected ``httpx.Client``.

    httpx transport error, timeout, HTTP 5xx/429     SignerUnavailable (retry)
    HTTP 404                                          UnknownKey
    other HTTP 4xx, malformed body, wrong signer      SignerRejected
"""

from __future__ import annotations

import httpx

from sweeper.keys.errors import SignerRejected, SignerUnavailable, UnknownKey
from sweeper.keys.local import recover_address

_HEX = frozenset("0123456789abcdefABCDEF")


class RemoteSigner:
    """A ``Signer`` for one address whose key lives in a remote signing service."""

    __slots__ = ("_address", "_http", "_url")

    def __init__(self, address: str, url: str, http: httpx.Client) -> None:
        self._address = address
        self._url = url.rstrip("/") + "/sign"
        self._http = http

    @property
    def address(self) -> str:
        return self._address

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("the digest to sign must be 32 bytes")
        body = {"address": self._address, "digest": digest.hex()}
        try:
            response = self._http.post(self._url, json=body)
        except httpx.HTTPError as exc:
            raise SignerUnavailable(f"remote signer unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if status >= 500 or status == 429:
            raise SignerUnavailable(f"remote signer answered HTTP {status}")
        if status == 404:
            raise UnknownKey(f"remote signer holds no key for {self._address}")
        if status != 200:
            raise SignerRejected(f"remote signer refused to sign for {self._address}: HTTP {status}")
        signature = _parse(response)
        if recover_address(digest, signature) != self._address:
            raise SignerRejected(f"remote signer returned a signature that is not {self._address}'s")
        return signature

    def __repr__(self) -> str:
        return f"RemoteSigner(address={self._address!r}, url={self._url!r})"


class RemoteKeyring:
    """Hands out ``RemoteSigner``s; whether the service holds the key is learned when signing."""

    __slots__ = ("_http", "_url")

    def __init__(self, url: str, http: httpx.Client) -> None:
        self._url = url
        self._http = http

    def signer_for(self, address: str) -> RemoteSigner:
        return RemoteSigner(address, self._url, self._http)

    def __repr__(self) -> str:
        return f"RemoteKeyring(url={self._url!r})"


def _parse(response: httpx.Response) -> bytes:
    try:
        value = response.json().get("signature")
    except (ValueError, AttributeError):
        raise SignerRejected("remote signer answered with a body that is not a JSON object") from None
    if not isinstance(value, str):
        raise SignerRejected("remote signer answered without a signature")
    value = value.removeprefix("0x")
    if len(value) != 130 or not set(value) <= _HEX:
        raise SignerRejected("remote signer answered with a malformed signature")
    raw = bytes.fromhex(value)
    v = raw[64] - 27 if raw[64] >= 27 else raw[64]
    return raw[:64] + bytes([v])
