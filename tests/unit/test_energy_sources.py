"""Sources are composed from settings in the configured preference order, with their credentials."""

from __future__ import annotations

import httpx
import pytest

from config.settings import load_settings
from sweeper.energy.base import EnergySource
from sweeper.errors import ConfigError
from tasks.sources import build_sources, itrx_callback_url

pytestmark = pytest.mark.unit

HOT = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"


def settings(order: str, **extra):
    energy = {
        "order": order,
        "itrx": {"api_key": "k", "api_secret": "s"},
        "ea888fee": {"api_key": "k", "api_secret": "s"},
        "tronzap": {"api_token": "t", "api_secret": "s"},
        "stake": {"owner": HOT},
    }
    return load_settings(_env_file=None, destination=HOT, energy=energy, **extra)


def test_sources_come_back_in_the_configured_order_and_implement_the_interface():
    with httpx.Client() as http:
        sources = build_sources(settings("tronzap,itrx,ea888fee"), http)
    assert list(sources) == ["tronzap", "itrx", "ea888fee"]
    assert all(isinstance(s, EnergySource) for s in sources.values())
    assert [s.name for s in sources.values()] == list(sources)


def test_stake_without_a_chain_and_signer_is_a_configuration_error():
    with httpx.Client() as http, pytest.raises(ConfigError) as info:
        build_sources(settings("itrx,stake"), http)
    assert "stake" in str(info.value)


def test_itrx_callbacks_go_to_the_public_receiver_url():
    assert itrx_callback_url(settings("itrx", callback_public_url="https://sweeper.example/")) == (
        "https://sweeper.example/callbacks/itrx"
    )
    assert itrx_callback_url(settings("itrx")) is None
