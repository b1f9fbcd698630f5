"""The devnet's simulators register like the sweeper's sources: discovered, each with its own port offset."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from devnet.faults import Faults
from devnet.providers.common import EA888FEE_API_SECRET, ITRX_API_SECRET, Account
from devnet.providers.registry import (
    Simulation,
    SimulatorContext,
    SimulatorRegistry,
    SimulatorSpec,
    simulators,
)
from tasks.devnet_profile import provider_env

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEVNET = ROOT / "devnet"


def simulator(name: str, offset: int) -> SimulatorSpec:
    def build(context: SimulatorContext) -> Simulation:
        return Simulation(app=None, account=Account("key", "secret"))

    return SimulatorSpec(name=name, port_offset=offset, build=build, credentials={"api_key": "key"})


def test_the_first_three_simulators_keep_the_ports_the_devnet_always_had() -> None:
    offsets = simulators().port_offsets()

    assert {name: offsets[name] for name in ("node", "itrx", "ea888fee", "tronzap")} == {
        "node": 0,
        "itrx": 1,
        "ea888fee": 2,
        "tronzap": 3,
    }


def published_range(text: str, pattern: str) -> range:
    found = re.search(pattern, text)
    assert found is not None, pattern
    return range(int(found["low"]), int(found["high"]) + 1)


def test_the_container_publishes_a_port_for_every_registered_simulator() -> None:
    """docker-compose.yml and the Dockerfile publish a range; every simulator's port must fall in it."""
    compose = published_range(
        (ROOT / "docker-compose.yml").read_text(),
        r'"127\.0\.0\.1:(?P<low>\d+)-(?P<high>\d+):(?P=low)-(?P=high)"',
    )
    exposed = published_range((ROOT / "Dockerfile").read_text(), r"EXPOSE (?P<low>\d+)-(?P<high>\d+)")
    node = 9090  # the port the compose file gives the devnet (--port 9090)
    ports = {name: node + offset for name, offset in simulators().port_offsets().items()}

    assert compose == exposed and compose.start == node
    assert {name: port for name, port in ports.items() if port not in compose} == {}


def test_names_and_port_offsets_are_each_unique_and_the_node_keeps_offset_zero() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        SimulatorRegistry([simulator("acme", 5), simulator("acme", 6)])
    with pytest.raises(ValueError, match="port offset 5 is declared by acme and zed"):
        SimulatorRegistry([simulator("zed", 5), simulator("acme", 5)])
    with pytest.raises(ValueError, match="at least 1"):
        simulator("acme", 0)
    with pytest.raises(ValueError, match="other than 'node'"):
        simulator("node", 7)


def test_faults_target_the_node_and_every_registered_simulator() -> None:
    assert Faults().targets == ("node", *simulators().names())
    assert Faults().targets[:4] == ("node", "itrx", "ea888fee", "tronzap")
    assert Faults(targets=("node", "acme")).set("acme", latency_ms=5).latency_ms == 5
    with pytest.raises(ValueError, match="expected one of node, acme"):
        Faults(targets=("node", "acme")).set("itrx", latency_ms=5)


class Urls:
    node_url = "http://127.0.0.1:9090/"

    def provider_url(self, name: str) -> str:
        return f"http://127.0.0.1:{9090 + simulators()[name].port_offset}"


def test_devnet_env_fills_each_simulators_url_and_sample_credentials_as_it_always_did() -> None:
    env = provider_env(Urls())

    for spec in simulators():
        prefix = f"SWEEPER_ENERGY__{spec.name.upper()}__"
        assert env[prefix + spec.url_setting.upper()] == Urls().provider_url(spec.name)
        assert all(env[prefix + key.upper()] == value for key, value in spec.credentials.items())
    assert {k: v for k, v in env.items() if k.split("__")[1] in ("ITRX", "EA888FEE", "TRONZAP")} == {
        "SWEEPER_ENERGY__ITRX__BASE_URL": "http://127.0.0.1:9091",
        "SWEEPER_ENERGY__ITRX__API_KEY": "B433BFF1CDE7450AA38A56BEAC690DD4",
        "SWEEPER_ENERGY__ITRX__API_SECRET": ITRX_API_SECRET,
        "SWEEPER_ENERGY__EA888FEE__BASE_URL": "http://127.0.0.1:9092",
        "SWEEPER_ENERGY__EA888FEE__API_KEY": "Z302rm68PvaqTm6Z",
        "SWEEPER_ENERGY__EA888FEE__API_SECRET": EA888FEE_API_SECRET,
        "SWEEPER_ENERGY__TRONZAP__BASE_URL": "http://127.0.0.1:9093",
        "SWEEPER_ENERGY__TRONZAP__API_TOKEN": "your_api_token",
        "SWEEPER_ENERGY__TRONZAP__API_SECRET": "your_api_secret",
    }


def test_the_devnet_imports_nothing_of_the_sweeper() -> None:
    offenders = []
    for path in DEVNET.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in ("sweeper", "tasks", "config")
            ]
    assert offenders == []
