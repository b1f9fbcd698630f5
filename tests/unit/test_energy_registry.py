"""The provider registry: sources are discovered from their own modules, in declared order, once each."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, SecretStr

from config.secrets import find_secrets
from config.settings import KNOWN_SOURCES, compose_energy_settings, load_settings
from sweeper.energy.base import Capabilities, EnergySource
from sweeper.energy.http import ProviderHttp
from sweeper.energy.itrx import SPEC as ITRX
from sweeper.energy.itrx import ItrxSettings
from sweeper.energy.merx import SPEC as MERX
from sweeper.energy.merx import MerxClient, MerxSettings
from sweeper.energy.registry import BuildContext, ProviderSpec, Registry, discover, http_client, providers
from sweeper.errors import ConfigError
from tasks.runtime import secret_values

pytestmark = pytest.mark.unit

HOT = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"


class KeySettings(BaseModel):
    api_key: SecretStr | None = None
    label: str | None = None


def never_built(settings: KeySettings, context: BuildContext) -> EnergySource:
    raise AssertionError("not built in these tests")


def spec(name: str, position: int = 10, **extra: object) -> ProviderSpec[KeySettings]:
    return ProviderSpec(
        name=name,
        position=position,
        settings=KeySettings,
        factory=never_built,
        capabilities=Capabilities(),
        **extra,  # type: ignore[arg-type]
    )


# -- discovery and order ----------------------------------------------------------------------------------
def test_the_sources_are_discovered_in_their_declared_order() -> None:
    registry = providers()
    names = registry.names()

    assert names[:3] == ("itrx", "ea888fee", "tronzap")  # the first three, as they always were
    assert names[-2:] == ("stake", "burn")  # our own stake, then burning TRX: always last
    assert list(names) == [s.name for s in sorted(registry, key=lambda s: (s.position, s.name))]
    assert registry.default_order() == ["itrx", "ea888fee", "tronzap"]
    assert registry.names() == KNOWN_SOURCES
    assert [s.name for s in registry.with_callbacks()] == ["itrx"]


def test_each_spec_declares_the_capabilities_its_built_source_has() -> None:
    settings = load_settings(
        _env_file=None,
        destination=HOT,
        energy={
            "itrx": {"api_key": "k", "api_secret": "s"},
            "ea888fee": {"api_key": "k", "api_secret": "s"},
            "tronzap": {"api_token": "t", "api_secret": "s"},
            "merx": {"api_key": "k"},
            "feee": {"api_key": "k"},
            "catfee": {"api_key": "k", "api_secret": "s"},
        },
    )
    with httpx.Client() as http:
        for name in ("itrx", "ea888fee", "tronzap", "merx", "feee", "catfee"):
            source = providers()[name].build(
                settings.energy.provider(name), BuildContext(name=name, http=http)
            )
            assert source.name == name
            assert source.capabilities == providers()[name].capabilities


class RecordingClient:
    """A client that keeps what its factory passed it."""

    capabilities = Capabilities()

    def __init__(self, http: ProviderHttp, *, name: str, **settings: object) -> None:
        self.name, self.http, self.settings = name, http, settings


class UrlSettings(BaseModel):
    base_url: str = "https://provider.example"
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    duration: int = 3


def test_an_http_client_gets_its_transport_its_settings_by_name_secrets_revealed_and_its_name() -> None:
    build = http_client(RecordingClient)  # type: ignore[arg-type]  # a recorder, not an EnergySource
    settings = UrlSettings(api_key=SecretStr("the-key"), duration=5)

    with httpx.Client() as http:
        client = build(settings, BuildContext(name="recorded", http=http))

    assert isinstance(client, RecordingClient)
    assert client.name == "recorded"
    assert client.http.base_url == "https://provider.example"
    assert client.http.provider == "recorded"
    assert client.settings == {"api_key": "the-key", "api_secret": "", "duration": 5}


def test_a_source_built_by_its_http_factory_has_the_settings_it_was_given() -> None:
    settings = MerxSettings(api_key=SecretStr("k"), duration_sec=7200, max_price_sun=90)

    with httpx.Client() as http:
        merx = MERX.build(settings, BuildContext(name="merx", http=http))

    assert isinstance(merx, MerxClient)
    assert (merx.duration_sec, merx.max_price_sun, merx._api_key) == (7200, 90, "k")
    assert repr(merx) == "MerxClient(name='merx', base_url='https://merx.exchange')"


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package ``regplugins`` in tmp_path; its modules are forgotten afterwards."""
    package = tmp_path / "regplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [m for m in sys.modules if m == "regplugins" or m.startswith("regplugins.")]:
        del sys.modules[name]


SOURCE_MODULE = """
    from pydantic import BaseModel, SecretStr
    from sweeper.energy.base import Capabilities
    from sweeper.energy.registry import ProviderSpec

    class Settings(BaseModel):
        token: SecretStr | None = None

    def build(settings, context):
        raise AssertionError

    SPEC = ProviderSpec(
        name={name!r}, position={position}, settings=Settings, factory=build,
        capabilities=Capabilities(), required=("token",),
    )
"""


def test_discovery_finds_every_module_declaring_a_spec_and_orders_them_by_position(
    plugin_package: Path,
) -> None:
    (plugin_package / "zeta.py").write_text(textwrap.dedent(SOURCE_MODULE.format(name="zeta", position=5)))
    (plugin_package / "alpha.py").write_text(textwrap.dedent(SOURCE_MODULE.format(name="alpha", position=50)))
    (plugin_package / "helpers.py").write_text("SPEC = 'not a provider spec'\n")

    registry = discover("regplugins")

    assert registry.names() == ("zeta", "alpha")


def test_two_sources_with_one_name_are_refused(plugin_package: Path) -> None:
    (plugin_package / "one.py").write_text(textwrap.dedent(SOURCE_MODULE.format(name="twin", position=1)))
    (plugin_package / "two.py").write_text(textwrap.dedent(SOURCE_MODULE.format(name="twin", position=2)))

    with pytest.raises(ConfigError) as info:
        discover("regplugins")

    assert info.value.problems == ["energy source 'twin' is declared twice"]


def test_equal_positions_fall_back_to_the_name() -> None:
    assert Registry([spec("b", 1), spec("a", 1), spec("c", 0)]).names() == ("c", "a", "b")


def test_a_spec_must_have_a_lowercase_name_and_require_only_settings_it_has() -> None:
    with pytest.raises(ConfigError, match="lowercase identifier"):
        spec("Bad-Name")
    with pytest.raises(ConfigError, match="requires unknown setting"):
        spec("fine", required=("api_secret",))


def test_a_source_may_not_be_named_like_a_shared_energy_setting() -> None:
    with pytest.raises(ValueError, match="clash"):
        compose_energy_settings(Registry([spec("margin")]))


# -- required settings ------------------------------------------------------------------------------------
def test_a_required_setting_is_missing_when_unset_or_empty_and_named_by_its_variable() -> None:
    required = spec("acme", required=("api_key", "label"))

    assert required.missing(KeySettings()) == [
        "energy source 'acme' is enabled but SWEEPER_ENERGY__ACME__API_KEY is not set",
        "energy source 'acme' is enabled but SWEEPER_ENERGY__ACME__LABEL is not set",
    ]
    assert required.missing(KeySettings(api_key=SecretStr(""), label="x")) == [
        "energy source 'acme' is enabled but SWEEPER_ENERGY__ACME__API_KEY is not set"
    ]
    assert required.missing(KeySettings(api_key=SecretStr("k"), label="x")) == []


def test_a_composed_energy_model_has_one_field_per_source_and_checks_only_enabled_ones() -> None:
    energy_model = compose_energy_settings(Registry([spec("acme", required=("api_key",)), spec("other", 20)]))

    energy = energy_model.model_validate({"order": "other,acme", "other": {"label": "x"}})

    assert energy.order == ["other", "acme"]
    assert isinstance(energy.provider("other"), KeySettings)
    assert energy.problems() == [
        "energy source 'acme' is enabled but SWEEPER_ENERGY__ACME__API_KEY is not set"
    ]
    with pytest.raises(ValueError, match="known: acme, other"):
        energy_model.model_validate({"order": "nope"})


def test_settings_give_typed_access_to_a_sources_own_model() -> None:
    settings = load_settings(_env_file=None, destination=HOT, energy={"order": ""})

    assert isinstance(settings.energy.settings_of(ITRX), ItrxSettings)
    assert settings.energy.settings_of(ITRX) is settings.energy.itrx  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        settings.energy.provider("moonpay")


# -- secrets ----------------------------------------------------------------------------------------------
class Inner(BaseModel):
    secret: SecretStr | None = None
    note: str = "not a secret"


class Outer(BaseModel):
    top: SecretStr
    inner: Inner = Inner()
    many: list[Inner] = []
    by_name: dict[str, SecretStr] = {}
    pair: tuple[SecretStr, ...] = ()


def test_the_secret_walk_finds_every_secret_str_nested_and_in_collections() -> None:
    value = Outer(
        top=SecretStr("top-1"),
        inner=Inner(secret=SecretStr("inner-2")),
        many=[Inner(secret=SecretStr("list-3")), Inner(), Inner(secret=SecretStr("list-4"))],
        by_name={"a": SecretStr("dict-5")},
        pair=(SecretStr("tuple-6"), SecretStr("top-1")),
    )

    assert find_secrets(value) == ["top-1", "inner-2", "list-3", "list-4", "dict-5", "tuple-6"]


def test_every_secret_of_the_settings_is_registered_without_a_hand_written_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in [k for k in os.environ if k.startswith("SWEEPER_")]:
        monkeypatch.delenv(key)
    secrets = {
        "SWEEPER_TRON__API_KEY": "tron-key-1",
        "SWEEPER_ENERGY__ITRX__API_KEY": "itrx-key-2",
        "SWEEPER_ENERGY__ITRX__API_SECRET": "itrx-secret-3",
        "SWEEPER_ENERGY__EA888FEE__API_KEY": "ea-key-4",
        "SWEEPER_ENERGY__EA888FEE__API_SECRET": "ea-secret-5",
        "SWEEPER_ENERGY__TRONZAP__API_TOKEN": "tz-token-6",
        "SWEEPER_ENERGY__TRONZAP__API_SECRET": "tz-secret-7",
        "SWEEPER_KEYS__MNEMONIC": "mnemonic-8",
        "SWEEPER_KEYS__PASSPHRASE": "passphrase-9",
        "SWEEPER_KEYS__KEYSTORE_PASSWORD": "keystore-10",
    }
    for key, value in {**secrets, "SWEEPER_DESTINATION": HOT}.items():
        monkeypatch.setenv(key, value)

    found = secret_values(load_settings(_env_file=None))

    assert sorted(found) == sorted(secrets.values())
