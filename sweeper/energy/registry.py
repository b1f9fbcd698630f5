"""The provider registry: every energy source declares itself once, everything else reads the declaration.

A source module (``sweeper/energy/<name>.py``) ends with one module-level ``SPEC = ProviderSpec(...)``:
its name (the ``SWEEPER_ENERGY__<NAME>__*`` key and the ledger's source name), its pydantic settings
model, which settings must be set when it is enabled, how to build it from a :class:`BuildContext`, its
declared :class:`~sweeper.energy.base.Capabilities`, and, if the provider calls back, how a callback is
verified. :func:`providers` finds every such module in this package by itself, so adding a provider is
adding its module: settings, wiring, secret redaction, the callback receiver and the CLI follow.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, get_args

import httpx
from pydantic import BaseModel, SecretStr

from sweeper.energy.base import Capabilities, EnergySource
from sweeper.energy.http import ProviderHttp, RetryPolicy
from sweeper.energy.journal import MemoryJournal, TxJournal
from sweeper.errors import ConfigError

if TYPE_CHECKING:
    from sweeper.callbacks import CallbackEvent
    from sweeper.chain.port import Chain, Signer

S = TypeVar("S", bound=BaseModel)

SPEC_ATTRIBUTE = "SPEC"
"""The module-level name discovery looks for."""
MAX_NAME_LENGTH = 32
"""The ledger stores source names in 32-character columns."""


class CallbackParser(Protocol):
    """Verify one callback (signature, freshness) and return it typed, or raise ``CallbackRejected``."""

    def __call__(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: str,
        now: float,
        tolerance_seconds: float = ...,
    ) -> CallbackEvent: ...


def _always(_settings: Any) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class CallbackSpec(Generic[S]):
    """How a provider's callbacks are verified, and whether we ask it to send them."""

    parse: CallbackParser
    secret: Callable[[S], SecretStr | None]
    """The setting callbacks are signed with; without it the receiver refuses the provider's callbacks."""
    wanted: Callable[[S], bool] = _always
    """Whether orders ask for callbacks (sent to ``{SWEEPER_CALLBACK_PUBLIC_URL}/callbacks/<name>``)."""


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a source's factory may use besides its own settings; built once per source by the caller."""

    name: str
    http: httpx.Client
    retry: RetryPolicy | None = None
    chain: Chain | None = None
    signer_for: Callable[[str], Signer] | None = None
    journal_for: Callable[[str], TxJournal] | None = None
    callback_url: str | None = None
    """Where this source's callbacks should go, or None (no public receiver, or callbacks not wanted)."""

    def transport(self, base_url: object) -> ProviderHttp:
        """The source's HTTP transport over the one shared client of the process."""
        return ProviderHttp(self.http, str(base_url), provider=self.name, retry=self.retry)

    def wallet(self, address: str | None) -> tuple[Chain, Signer]:
        """The chain adapter and the signer of our own wallet ``address`` (stake owner, gas wallet)."""
        if self.chain is None or self.signer_for is None or address is None:
            raise ConfigError(
                [f"energy source {self.name!r} needs the chain adapter and a signer for its wallet"]
            )
        signer = self.signer_for(address)
        if signer.address != address:
            raise ConfigError([f"energy source {self.name!r}: the signer's address is not {address}"])
        return self.chain, signer

    def journal(self) -> TxJournal:
        """The durable journal of this source's signed transactions (in memory when none is given)."""
        return self.journal_for(self.name) if self.journal_for is not None else MemoryJournal()


def reveal(secret: SecretStr | None) -> str:
    """A secret setting as the plain string a client needs ("" when unset)."""
    return secret.get_secret_value() if secret is not None else ""


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def http_client(client: Callable[..., EnergySource]) -> Callable[[BaseModel, BuildContext], EnergySource]:
    """The factory of an HTTP client called with its transport, its settings by name and its source name.

    ``base_url`` becomes the transport over the process's one HTTP client (``BuildContext.transport``);
    a ``SecretStr`` setting is passed revealed ("" when unset) and any other as it is, so each setting
    of the source is one keyword argument of the client.
    """

    def build(settings: BaseModel, context: BuildContext) -> EnergySource:
        values = {}
        for setting, info in type(settings).model_fields.items():
            value = getattr(settings, setting)
            values[setting] = reveal(value) if _is_secret(info.annotation) else value
        return client(context.transport(values.pop("base_url")), name=context.name, **values)

    return build


@dataclass(frozen=True, slots=True)
class ProviderSpec(Generic[S]):
    """One energy source, declared once in its own module as ``SPEC``."""

    name: str
    """Lowercase identifier: the settings key (``SWEEPER_ENERGY__<NAME>__*``) and the ledger's source name."""
    position: int
    """Where it stands in the default order and in messages listing the known sources (lower first)."""
    settings: type[S]
    """Its settings model; secrets are ``SecretStr`` so they are masked and registered with the redactor."""
    factory: Callable[[S, BuildContext], EnergySource]
    capabilities: Capabilities
    """What the built source can do; the class's own declaration (e.g. ``ItrxClient.capabilities``)."""
    required: tuple[str, ...] = ()
    """Settings that must be set when the source is enabled (checked by ``sweeper config check``)."""
    wallets: tuple[str, ...] = ()
    """Settings holding one of our own wallets (the stake owner, the gas wallet): never watched or swept."""
    callbacks: CallbackSpec[S] | None = None
    """None: the provider sends no callbacks, so the receiver refuses anything posted in its name."""
    enabled_by_default: bool = False
    """Part of the default ``SWEEPER_ENERGY__ORDER``."""

    def __post_init__(self) -> None:
        name = self.name
        if (
            not (name.isidentifier() and name == name.lower() and not name.startswith("_"))
            or len(name) > MAX_NAME_LENGTH
        ):
            limit = f"at most {MAX_NAME_LENGTH} characters"
            raise ConfigError([f"energy source name {name!r} must be a lowercase identifier of {limit}"])
        unknown = [f for f in (*self.required, *self.wallets) if f not in self.settings.model_fields]
        if unknown:
            raise ConfigError(
                [f"energy source {self.name!r} requires unknown setting(s) {', '.join(unknown)}"]
            )

    def variable(self, setting: str) -> str:
        """The environment variable of one of this source's settings."""
        return f"SWEEPER_ENERGY__{self.name.upper()}__{setting.upper()}"

    def own(self, value: BaseModel) -> S:
        """``value`` as this source's settings model (it is the composed settings' field of that name)."""
        if not isinstance(value, self.settings):
            raise TypeError(f"{type(value).__name__} is not the settings of energy source {self.name!r}")
        return value

    def missing(self, value: BaseModel) -> list[str]:
        """One message per required setting that is not set, in declaration order."""
        values = self.own(value).model_dump(include=set(self.required))
        problems = []
        for setting in self.required:
            current = values.get(setting)
            if current is None or (isinstance(current, SecretStr) and not current.get_secret_value()):
                problems.append(
                    f"energy source {self.name!r} is enabled but {self.variable(setting)} is not set"
                )
        return problems

    def wallet_addresses(self, value: BaseModel) -> dict[str, str]:
        """Our own wallets set among this source's settings: address → the variable that names it."""
        values = self.own(value).model_dump(include=set(self.wallets))
        return {str(values[name]): self.variable(name) for name in self.wallets if values.get(name)}

    def build(self, value: BaseModel, context: BuildContext) -> EnergySource:
        """The source, built by its factory from its settings."""
        return self.factory(self.own(value), context)

    def callback_secret(self, value: BaseModel) -> str | None:
        """The secret this provider's callbacks are verified with; None if it sends none or it is unset."""
        if self.callbacks is None:
            return None
        return reveal(self.callbacks.secret(self.own(value))) or None

    def wants_callbacks(self, value: BaseModel) -> bool:
        """Whether orders should ask this provider to call back."""
        return self.callbacks is not None and self.callbacks.wanted(self.own(value))


class Registry:
    """The known energy sources in their declared order; two sources may not share a name."""

    def __init__(self, specs: Iterable[ProviderSpec[Any]]) -> None:
        ordered = sorted(specs, key=lambda s: (s.position, s.name))
        counts = Counter(s.name for s in ordered)
        twice = sorted(name for name, n in counts.items() if n > 1)
        if twice:
            raise ConfigError([f"energy source {name!r} is declared twice" for name in twice])
        self._specs: dict[str, ProviderSpec[Any]] = {s.name: s for s in ordered}

    def __iter__(self) -> Iterator[ProviderSpec[Any]]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> ProviderSpec[Any]:
        return self._specs[name]

    def find(self, name: str) -> ProviderSpec[Any] | None:
        return self._specs.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def default_order(self) -> list[str]:
        return [s.name for s in self if s.enabled_by_default]

    def with_callbacks(self) -> tuple[ProviderSpec[Any], ...]:
        return tuple(s for s in self if s.callbacks is not None)

    def __repr__(self) -> str:
        return f"Registry({', '.join(self._specs)})"


def discover(*packages: str) -> Registry:
    """Import every module of ``packages`` (default: this one) and collect the ``SPEC`` each declares."""
    specs: list[ProviderSpec[Any]] = []
    for package in packages or (__package__ or "sweeper.energy",):
        root = importlib.import_module(package)
        for info in pkgutil.iter_modules(root.__path__, f"{package}."):
            module = importlib.import_module(info.name)
            spec = vars(module).get(SPEC_ATTRIBUTE)
            if isinstance(spec, ProviderSpec):
                specs.append(spec)
    return Registry(specs)


@cache
def providers() -> Registry:
    """The energy sources of this installation, discovered once per process."""
    return discover()


__all__ = [
    "BuildContext",
    "CallbackParser",
    "CallbackSpec",
    "ProviderSpec",
    "Registry",
    "S",
    "discover",
    "http_client",
    "providers",
    "reveal",
]
