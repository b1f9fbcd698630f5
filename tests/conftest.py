"""Shared fixtures live in tests/fixtures/, one module per area, registered here."""

pytest_plugins = [
    "tests.fixtures.devnet",
    "tests.fixtures.db",
    "tests.fixtures.services",
]
