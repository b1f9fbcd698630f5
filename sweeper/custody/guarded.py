"""Local keys behind the signing policy: every signature is judged first, whoever asks.

The signer service signs with these; the embedded demo (no service) hands them to its workers, so the
same policy decides in both shapes (docs/SECURITY.md §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweeper.chain.intent import Intent
from sweeper.custody.policy import SigningPolicy, Verdict
from sweeper.keys.keyring import Keyring
from sweeper.keys.local import LocalSigner


class PolicySigner:
    """A ``Signer`` that signs only what ``policy`` allows for its address."""

    __slots__ = ("_inner", "_policy")

    def __init__(self, inner: LocalSigner, policy: SigningPolicy) -> None:
        self._inner = inner
        self._policy = policy

    @property
    def address(self) -> str:
        return self._inner.address

    def sign_judged(
        self, raw_data: Mapping[str, Any], intent: Intent, *, now_ms: int | None = None
    ) -> tuple[Verdict, bytes]:
        """The verdict and the signature over the txid the verdict recomputed."""
        verdict = self._policy.check(self._inner.address, raw_data, intent, now_ms=now_ms)
        return verdict, self._inner.sign_digest(bytes.fromhex(verdict.txid))

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        return self.sign_judged(raw_data, intent)[1]

    def probe(self) -> None:
        """Holding the key is proven by having been handed it."""

    def __repr__(self) -> str:
        return f"PolicySigner(address={self.address!r})"


class PolicyKeyring:
    """Wraps keyrings of local keys so each signer they hand out is a ``PolicySigner``."""

    __slots__ = ("_inner", "policy")

    def __init__(self, inner: Keyring, policy: SigningPolicy) -> None:
        self._inner = inner
        self.policy = policy

    def signer_for(self, address: str) -> PolicySigner:
        signer = self._inner.signer_for(address)
        if not isinstance(signer, LocalSigner):
            raise TypeError("PolicyKeyring wraps local keys only")
        return PolicySigner(signer, self.policy)

    def __repr__(self) -> str:
        return f"PolicyKeyring({self._inner!r})"
