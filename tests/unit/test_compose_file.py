"""docker-compose.yml works as written: health, start order, stop grace, and no node on the container itself.

.ci/run also validates the file with a compose client (``docker-compose config``); these read what the
client would run, with YAML anchors and merge keys resolved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import load_settings
from tasks.startup import loopback_in_container

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
HOT = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
BURN_ONLY = {"order": "burn", "burn": {"gas_wallet": HOT}}
BASE: dict[str, Any] = {"_env_file": None, "destination": HOT, "energy": BURN_ONLY}
AFTER_MIGRATE = ("worker", "beat", "web")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_every_service_has_a_healthcheck_and_a_stop_grace_period(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
        assert service.get("stop_grace_period"), name


def test_workers_beat_and_web_wait_for_migrate_to_complete(services: dict[str, dict[str, Any]]) -> None:
    for name in AFTER_MIGRATE:
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == depends["redis"] == {"condition": "service_healthy"}, name
    assert "migrate" not in services["migrate"]["depends_on"]


def test_the_node_url_comes_from_the_env_file_whose_example_is_not_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        assert "SWEEPER_TRON__NODE_URL" not in (service.get("environment") or {}), name
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert example["SWEEPER_TRON__NODE_URL"] == "http://devnet:9090/"


def test_the_production_image_declares_a_container_and_keeps_secrets_out_of_the_build() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    production = dockerfile[dockerfile.index("AS production") :]
    assert "ENV SWEEPER_CONTAINER=1" in production and "HEALTHCHECK" in production
    assert "COPY requirements/runtime.txt" in dockerfile  # the dependency layer, from the lock file
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # everything out, then only what the Dockerfile copies back in
    assert not any(line.lstrip("!").startswith((".env", ".venv")) for line in ignored if line.startswith("!"))


def test_in_a_container_loopback_urls_are_refused_one_line_each() -> None:
    inside = load_settings(
        **BASE,
        container=True,
        tron={"node_url": "http://127.0.0.1:9090/"},
        broker_url="redis://localhost:6379/0",
        database_url="postgresql+psycopg://u:p@postgres/db",
    )
    problems = list(loopback_in_container(inside))
    assert len(problems) == 2
    assert problems[0].startswith("SWEEPER_TRON__NODE_URL points at 127.0.0.1, which inside this container")
    assert problems[1].startswith("SWEEPER_BROKER_URL points at localhost")
    outside = load_settings(**BASE, tron={"node_url": "http://127.0.0.1:9090/"})
    assert list(loopback_in_container(outside)) == []
    assert list(loopback_in_container(load_settings(**BASE, container=True))) == [
        "SWEEPER_TRON__NODE_URL points at 127.0.0.1, which inside this container is the container itself: "
        "use http://devnet:9090/ or your node",
        "SWEEPER_BROKER_URL points at 127.0.0.1, which inside this container is the container itself: "
        "use redis://redis:6379/0",
    ]
