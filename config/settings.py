"""Typed settings read once from the environment (prefix ``SWEEPER_``, nested delimiter ``__``).

Variable names are part of the product's interface (README, .env.example); do not rename them.
``load_settings()`` turns every validation failure into one line per problem.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from config.variables import names_of, set_names, unknown_variables
from config.web import WebSettings
from sweeper.energy.fields import check_address, optional_address
from sweeper.energy.registry import ProviderSpec, Registry, S, providers

USDT_MAINNET = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

PARTS = frozenset({"destination", "energy"})
"""Cross-checked parts of the settings a command may do without (``load_settings(without=...)``):
``destination`` (the hot wallet) and ``energy`` (every enabled source's credentials)."""
_without: ContextVar[frozenset[str]] = ContextVar("settings_without", default=frozenset())


class InvalidSettings(ValueError):
    """Raised when the configuration is invalid; ``problems`` has one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class TronSettings(BaseModel):
    node_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:9090/")
    api_key: SecretStr | None = None
    timeout: float = Field(10.0, gt=0, le=120)


class EnergyBase(BaseModel):
    """``SWEEPER_ENERGY__*`` shared by every source; each source's own settings are added by
    :func:`compose_energy_settings` as a field named after it (``settings.energy.itrx``)."""

    registry: ClassVar[Registry]
    """The sources this model was composed from."""

    order: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Enabled sources in preference order; the composed model defaults to the registry's default order."""
    margin: int = Field(0, ge=0, le=100_000, description="energy added to every measured transfer")
    margin_percent: Decimal = Field(
        Decimal(0), ge=0, le=100, description="percent added to every measured transfer's energy"
    )
    max_energy_per_transfer: int = Field(
        300_000, ge=1, description="sanity ceiling: a transfer measured above this is refused, never ordered"
    )
    max_fee_limit_sun: int = Field(
        50_000_000, ge=1, description="the largest fee_limit a transfer is signed with (sun)"
    )
    measure_cache_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="one measurement serves this long per (token, recipient holds)",
    )
    quote_cache_seconds: float = Field(
        3.0,
        ge=0,
        le=60,
        description="a rental source's energy quote serves this long per (energy, recipient); 0: never",
    )
    max_sun_per_sweep: int = Field(12_000_000, ge=0)
    max_percent_of_amount: Decimal = Field(Decimal(5), ge=0, le=100)
    breaker_failures: int = Field(3, ge=1)
    breaker_reset_seconds: float = Field(60.0, gt=0)

    @field_validator("order", mode="before")
    @classmethod
    def _split_order(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [s.strip().lower() for s in v.split(",") if s.strip()]
        return v

    @field_validator("order")
    @classmethod
    def _known_sources(cls, v: list[str]) -> list[str]:
        known = cls.registry.names()
        unknown = [s for s in v if s not in known]
        if unknown:
            raise ValueError(f"unknown energy source(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if len(set(v)) != len(v):
            raise ValueError("an energy source is listed twice")
        return v

    def provider(self, name: str) -> BaseModel:
        """The settings of source ``name`` (KeyError if no such source is registered)."""
        if name not in self.registry:
            raise KeyError(name)
        value = getattr(self, name)  # a field composed from the registry, see compose_energy_settings
        if not isinstance(value, BaseModel):
            raise KeyError(name)
        return value

    def settings_of(self, spec: ProviderSpec[S]) -> S:
        """The settings of ``spec``'s source, typed as its own model."""
        return spec.own(self.provider(spec.name))

    def problems(self) -> list[str]:
        """One message per required setting missing from an enabled source, in the configured order."""
        found: list[str] = []
        for name in self.order:
            found += self.registry[name].missing(self.provider(name))
        return found


def compose_energy_settings(registry: Registry) -> type[EnergyBase]:
    """``EnergyBase`` plus one field per registered source, named after it, defaulting to its defaults."""
    clash = [
        spec.name for spec in registry if spec.name in EnergyBase.model_fields or spec.name in dir(EnergyBase)
    ]
    if clash:
        raise ValueError(f"energy source name(s) {', '.join(clash)} clash with shared energy settings")
    fields: dict[str, Any] = {
        spec.name: (spec.settings, Field(default_factory=spec.settings)) for spec in registry
    }
    fields["order"] = (Annotated[list[str], NoDecode], Field(default_factory=registry.default_order))
    model = create_model("EnergySettings", __base__=EnergyBase, __module__=__name__, **fields)
    model.registry = registry
    return model


PROVIDERS = providers()
KNOWN_SOURCES = PROVIDERS.names()
"""Every registered energy source, in declared order."""
BANDWIDTH_SOURCES = tuple(spec.name for spec in PROVIDERS if spec.capabilities.bandwidth)
"""Sources that can give an address the bytes of its transfer (declared ``Capabilities.bandwidth``:
today stake and burn; no rental client sells bandwidth yet)."""

if TYPE_CHECKING:
    EnergySettings = EnergyBase
else:
    EnergySettings = compose_energy_settings(PROVIDERS)


class TokenSettings(BaseModel):
    symbol: str
    contract: str
    decimals: int = Field(ge=0, le=36)
    min_amount: int = Field(ge=0, description="smallest balance worth sweeping, in base units")
    destination: str | None = None
    trx_per_token: Decimal | None = Field(
        None, gt=0, description="price of one whole token in TRX, for the percent-of-amount fee cap"
    )

    _v_contract = field_validator("contract")(classmethod(lambda cls, v: check_address(v, "token contract")))
    _v_dest = field_validator("destination")(classmethod(lambda cls, v: optional_address(v)))


class BudgetSettings(BaseModel):
    """Spend budgets that hold whatever the quotes say (``SWEEPER_BUDGET__*``); see ``sweeper.guards``.

    Crossing one pauses that spending (sweeps wait), logs one loud line and counts in ``/metrics``.
    """

    orders_per_sweep: int = Field(6, ge=1, le=100, description="orders one sweep may place, all attempts")
    orders_per_address: int = Field(12, ge=1, description="orders one deposit address may place per window")
    address_window_seconds: float = Field(86_400.0, gt=0, description="the window of orders_per_address")
    sun_per_hour: int = Field(
        2_000_000_000, ge=0, description="energy spend of the whole deployment in any hour; 0: no limit"
    )
    sweeps_in_flight: int = Field(
        500,
        ge=0,
        description="sweeps between their first order and their broadcast at once (a backlog queues "
        "unpaid instead of renting energy that lapses before the fleet reaches it); 0: no limit",
    )


def _empty_is_unset(value: Any) -> Any:
    """``NAME=`` (how .env.example ships an optional setting) means "not set", not an invalid value."""
    return None if isinstance(value, str) and not value.strip() else value


class KeySettings(BaseModel):
    """Where keys come from. In the production shape only the signer service (``sweeper signer``) sets
    the mnemonic and keystore; workers set ``remote_signer_url`` and the signer's HMAC key instead."""

    mnemonic: SecretStr | None = None
    mnemonic_file: str | None = None
    passphrase: SecretStr | None = None
    keystore_file: str | None = None
    """A Web3 secret storage file, or (deprecated, still read) a ``sweeper-keystore`` file."""
    keystore_dir: str | None = None
    """A directory of Web3 secret storage files, one key each (gas wallet, stake owner)."""
    keystore_password: SecretStr | None = None
    keystore_password_file: str | None = None
    remote_signer_url: AnyHttpUrl | None = None

    _v_unset = field_validator("mnemonic_file", "keystore_file", "remote_signer_url", mode="before")(
        classmethod(lambda cls, v: _empty_is_unset(v))
    )


class SignerSettings(BaseModel):
    """The signer service (``sweeper signer``) and how workers authenticate to it (docs/SECURITY.md)."""

    host: str = "127.0.0.1"
    port: int = Field(8701, ge=1, le=65535)
    hmac_key: SecretStr | None = None
    hmac_key_file: str | None = None
    """A file holding the shared request key (at least 32 bytes); preferred to ``hmac_key``."""
    request_window_seconds: float = Field(30.0, gt=0, le=300)
    """A request's timestamp must be this close to the service's clock; nonces are kept twice as long."""
    max_expiration_seconds: float = Field(120.0, gt=0, le=86_400)
    """A transaction may expire at most this long after the time it was built at."""
    max_clock_skew_seconds: float = Field(300.0, gt=0)
    """A transaction's build time (the head block's) must be this close to the service's clock."""
    rate_per_address: int = Field(60, ge=0)
    """Signatures touching one watched address per ``rate_window_seconds``; 0: no limit."""
    rate_window_seconds: float = Field(3600.0, gt=0)
    timeout: float = Field(10.0, gt=0)


def _default_tokens() -> list[TokenSettings]:
    return [
        TokenSettings(
            symbol="USDT", contract=USDT_MAINNET, decimals=6, min_amount=1_000_000, trx_per_token=Decimal(3)
        )
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWEEPER_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    tron: TronSettings = TronSettings()
    database_url: str = "sqlite:///sweeper.sqlite3"
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str | None = None
    destination: str | None = None
    tokens: list[TokenSettings] = Field(default_factory=_default_tokens, min_length=1)
    energy: EnergySettings = Field(default_factory=EnergySettings)
    budget: BudgetSettings = BudgetSettings()
    keys: KeySettings = KeySettings()
    signer: SignerSettings = SignerSettings()
    confirmations: int = Field(19, ge=0, le=1000)
    dry_run: bool = False
    sweep_leftover_trx: bool = False
    leftover_trx_min_sun: int = Field(1_000_000, ge=1, description="sweep leftover TRX from this much up")
    callback_public_url: AnyHttpUrl | None = None
    scan_interval_seconds: float = Field(3.0, gt=0)
    rescan_interval_seconds: float = Field(3600.0, gt=0)
    reconcile_interval_seconds: float = Field(60.0, gt=0)
    beat_lock_seconds: float = Field(30.0, ge=2, le=600, description="a dead beat's leader lock expires")
    scan_max_blocks: int = Field(200, ge=1, le=100_000)
    rescan_concurrency: int = Field(32, ge=1, le=512)
    poll_seconds: float = Field(3.0, gt=0)
    order_timeout_seconds: float = Field(180.0, gt=0)
    task_events: bool = False
    """Workers send task events from the start (else Flower turns them on, first 5 s after it starts)."""
    database_pre_ping: bool = False
    """Test each pooled ledger connection before use; off, a dropped one fails one step (retried)."""
    memory_trim_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="worker processes hand freed heap back to the OS this often; 0: never",
    )
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"
    web: WebSettings = WebSettings()
    container: bool = Field(False, description="set by the production image: loopback is the container")

    _v_destination = field_validator("destination")(classmethod(lambda cls, v: optional_address(v)))
    _v_unset = field_validator("callback_public_url", "result_backend", "destination", mode="before")(
        classmethod(lambda cls, v: _empty_is_unset(v))
    )

    @field_validator("log_level")
    @classmethod
    def _real_level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{v!r} is not a log level; one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems: list[str] = []
        seen: set[str] = set()
        without = _without.get()
        for token in self.tokens:
            if not (token.destination or self.destination) and "destination" not in without:
                problems.append(
                    f"no destination for {token.symbol} ({token.contract}): "
                    "set SWEEPER_DESTINATION (the hot wallet)"
                )
            if token.contract in seen:
                problems.append(f"SWEEPER_TOKENS lists token contract {token.contract} twice")
            seen.add(token.contract)
        if "energy" not in without:
            problems += self.energy.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def destinations(self) -> dict[str, str]:
        """Each configured token's wallet, keyed by token contract: funds go nowhere else."""
        found = {t.contract: t.destination or self.destination for t in self.tokens}
        return {contract: dest for contract, dest in found.items() if dest}

    def destination_of(self, contract: str) -> str:
        """The configured wallet for the token at ``contract``; KeyError for a token nobody configured."""
        return self.destinations()[contract]

    def warnings(self) -> list[str]:
        """What is valid but will hold sweeps back: one line each, for ``sweeper config check``."""
        out: list[str] = []
        if not any(source in BANDWIDTH_SOURCES for source in self.energy.order):
            out.append(
                "no bandwidth source: SWEEPER_ENERGY__ORDER has neither 'stake' nor 'burn', and no rental "
                "provider sells bandwidth, so an address swept again within about 6 h of its last sweep "
                "(its 600 free bytes a day are spent) waits until its free bandwidth recovers; add 'stake' "
                "(SWEEPER_ENERGY__STAKE__OWNER) or 'burn' (SWEEPER_ENERGY__BURN__GAS_WALLET) to sweep it "
                "at once"
            )
        return out

    def destination_for(self, symbol: str) -> str:
        """Deprecated (a symbol does not name a token): the destination of the one token with ``symbol``.

        KeyError if no configured token has the symbol or if two do (use ``destination_of(contract)``).
        """
        matches = [t.contract for t in self.tokens if t.symbol == symbol]
        if len(matches) != 1:
            raise KeyError(symbol)
        return self.destination_of(matches[0])

    def own_wallets(self) -> dict[str, str]:
        """Our own wallets, address → what it is: never watched, derived, imported or swept."""
        found: dict[str, str] = {}
        if self.destination:
            found[self.destination] = "the hot wallet (SWEEPER_DESTINATION)"
        for token in self.tokens:
            if token.destination:
                found.setdefault(token.destination, f"the destination of {token.symbol} (SWEEPER_TOKENS)")
        for spec in self.energy.registry:  # the stake owner, the gas wallet: what each source declares
            for address, variable in spec.wallet_addresses(self.energy.provider(spec.name)).items():
                found.setdefault(address, f"our {spec.name} wallet ({variable})")
        return found


def _problems(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors():
        loc = "__".join(str(p).upper() for p in err["loc"] if not isinstance(p, int))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if loc:
            out.append(f"SWEEPER_{loc}: {msg}")
        else:
            out.extend(part for part in msg.split("; "))
    return out


def _neutral(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    """A harmless stand-in for an invalid value at ``path``: None, an empty list, or the default."""
    field = None
    for name in path:
        field = model.model_fields.get(name)
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    if field is None:
        return None
    if field.default is None:
        return None
    default = field.get_default(call_default_factory=True)
    return [] if isinstance(default, list) else default


def _patch_for(errors: list[Any]) -> dict[str, Any]:
    """Nested keyword arguments replacing each invalid leaf, so cross-field checks can still run."""
    patch: dict[str, Any] = {}
    for err in errors:
        path = tuple(str(p) for p in err["loc"] if not isinstance(p, int))
        if not path:
            continue
        node = patch
        for name in path[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[-1]] = _neutral(Settings, path)
    return patch


def unknown_variable_warnings(environ: dict[str, str] | None = None) -> list[str]:
    """One line per set ``SWEEPER_*`` variable (environment or ``.env``) that no setting reads."""
    return unknown_variables(names_of(Settings), set_names(environ))


@contextmanager
def _relaxed(without: frozenset[str]) -> Iterator[None]:
    token = _without.set(without)
    try:
        yield
    finally:
        _without.reset(token)


def load_settings(*, without: frozenset[str] = frozenset(), **overrides: Any) -> Settings:
    """Read and validate settings; raise InvalidSettings with one message per problem.

    ``without`` names parts of :data:`PARTS` the caller never uses (``addresses list`` needs no hot
    wallet and no provider secret): their absence is then not a problem; invalid values still are.
    Field errors stop pydantic before the cross-field checks, so those run again with each invalid
    value replaced by a neutral one: the operator sees every problem at once, not one per attempt.
    """
    unknown = without - PARTS
    if unknown:
        raise ValueError(f"unknown settings part(s) {sorted(unknown)}")
    with _relaxed(without):
        return _load(**overrides)


def _load(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # a complex value (SWEEPER_TOKENS) that is not JSON at all
        raise InvalidSettings([_undecodable(exc)]) from None
    except ValidationError as exc:
        problems = _problems(exc)
        patch = _patch_for(exc.errors())
        if patch:
            bad_vars = [p.split(":", 1)[0] for p in problems if p.startswith("SWEEPER_")]
            try:
                Settings(**{**overrides, **patch})
            except ValidationError as again:
                for problem in _problems(again):
                    stand_in = any(
                        var.removeprefix("SWEEPER_").lower() in problem.lower() for var in bad_vars
                    )
                    if problem not in problems and not stand_in:
                        problems.append(problem)
        raise InvalidSettings(problems) from None


def _undecodable(exc: SettingsError) -> str:
    """``error parsing value for field "tokens" from source ...`` as the variable and its fix."""
    text = str(exc)
    field = text.split('"', 2)[1] if text.count('"') >= 2 else ""
    var = f"SWEEPER_{field.upper()}" if field else "a SWEEPER_* variable"
    if field == "tokens" and not os.environ.get(var, "x").strip():
        return f"{var} is empty: remove it for the default (USDT on mainnet) or set a JSON list of tokens"
    example = (
        ': e.g. [{"symbol":"USDT","contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","decimals":6,'
        '"min_amount":1000000}]'
        if field == "tokens"
        else ""
    )
    return f"{var} is not valid JSON; write it as one JSON value on one line{example}"


def level_number(level: str) -> int:
    """The ``logging`` number of a validated level name."""
    return int(logging.getLevelName(level.upper()))
