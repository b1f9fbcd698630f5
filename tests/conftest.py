"""Shared fixtures live in tests/fixtures/, one module per area, registered here."""

from tests.support.worker_redis import start_for_xdist_worker

start_for_xdist_worker()  # before the fixture modules below read SWEEPER_TEST_REDIS_PORT

pytest_plugins = [
    "tests.fixtures.devnet",
    "tests.fixtures.db",
    "tests.fixtures.services",
]
