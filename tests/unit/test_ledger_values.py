"""Pure pieces of the ledger: UTC times, address and key-reference checks, URL normalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from sweeper.errors import InvalidAddress
from sweeper.ledger import InvalidKeyReference
from sweeper.ledger.addresses import check_address_shape, check_key_ref
from sweeper.ledger.engine import normalize_url
from sweeper.ledger.types import UTCDateTime

pytestmark = pytest.mark.unit

PLUS_EIGHT = timezone(timedelta(hours=8))


def test_a_naive_datetime_is_refused_because_its_zone_is_a_guess() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2030, 1, 1), sqlite.dialect())


def test_sqlite_receives_naive_utc_and_postgresql_aware_utc() -> None:
    beijing = datetime(2030, 1, 1, 8, 0, tzinfo=PLUS_EIGHT)

    assert UTCDateTime().process_bind_param(beijing, sqlite.dialect()) == datetime(2030, 1, 1, 0, 0)
    stored = UTCDateTime().process_bind_param(beijing, postgresql.dialect())
    assert stored == datetime(2030, 1, 1, 0, 0, tzinfo=UTC) and stored.tzinfo is UTC


def test_values_read_back_are_aware_utc() -> None:
    naive = UTCDateTime().process_result_value(datetime(2030, 1, 1), sqlite.dialect())
    shifted = UTCDateTime().process_result_value(
        datetime(2030, 1, 1, 8, tzinfo=PLUS_EIGHT), postgresql.dialect()
    )

    assert naive == shifted == datetime(2030, 1, 1, tzinfo=UTC)
    assert naive is not None and naive.tzinfo is UTC


@pytest.mark.parametrize(
    "address",
    [
        "",
        "T" * 33,
        "A" + "1" * 33,
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj60",
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6tX",
    ],
)
def test_strings_that_cannot_be_tron_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidAddress):
        check_address_shape(address)


def test_a_tron_address_passes_the_shape_check() -> None:
    check_address_shape("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")


@pytest.mark.parametrize(
    "key_ref", ["mnemonic:17", "keystore:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "remote:hsm-1/42"]
)
def test_references_to_keys_are_accepted(key_ref: str) -> None:
    check_key_ref(key_ref)


@pytest.mark.parametrize(
    "key_ref", ["0x" + "ab" * 32, "hex:" + "ab" * 32, "mnemonic: 17", "17", "Mnemonic:1"]
)
def test_keys_and_malformed_references_are_refused(key_ref: str) -> None:
    with pytest.raises(InvalidKeyReference) as caught:
        check_key_ref(key_ref)
    assert "ab" * 32 not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///sweeper.sqlite3", "sqlite+pysqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ],
)
def test_urls_are_pointed_at_the_drivers_we_ship(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver
