"""Bulk import of watched deposit addresses: millions of rows in chunks, inside one transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from itertools import islice

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from sweeper.errors import InvalidAddress
from sweeper.ledger.errors import AddressConflict, InvalidKeyReference
from sweeper.ledger.records import DepositAddress
from sweeper.ledger.tables import Base

ADDRESSES: Table = Base.metadata.tables["deposit_addresses"]

_BASE58 = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_KEY_REF = re.compile(r"[a-z][a-z0-9_]*:\S{1,120}")
_KEY_MATERIAL = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_CONFLICT_CHUNK = 500

# One statement per chunk: PostgreSQL unpacks three arrays instead of parsing thousands of VALUES rows.
_PG_INSERT = (
    "INSERT INTO deposit_addresses (address, key_ref, label, created_at) "
    "SELECT a, k, l, %(now)s FROM unnest(%(a)s::text[], %(k)s::text[], %(l)s::text[]) AS t(a, k, l) "
    "ON CONFLICT (address) DO NOTHING"
)
_SQLITE_INSERT = (
    "INSERT INTO deposit_addresses (address, key_ref, label, created_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (address) DO NOTHING"
)


def check_address_shape(address: str) -> None:
    """Refuse what cannot be a TRON base58 address (the checksum is the importer's job, not the ledger's)."""
    if len(address) != 34 or address[0] != "T" or not _BASE58.issuperset(address):
        raise InvalidAddress(f"{address!r} is not a TRON base58 address")


def check_key_ref(key_ref: str) -> None:
    """A key reference names where a key lives ("mnemonic:17", "keystore:T…"); it is never the key."""
    scheme, _, rest = key_ref.partition(":")
    if _KEY_MATERIAL.fullmatch(rest) or _KEY_MATERIAL.fullmatch(scheme):
        raise InvalidKeyReference(
            "a key reference looks like a private key; store where the key is, not the key"
        )
    if not _KEY_REF.fullmatch(key_ref):
        raise InvalidKeyReference("a key reference is 'scheme:value' with no spaces, e.g. 'mnemonic:17'")


def add_addresses(conn: Connection, rows: Iterable[DepositAddress], *, now: datetime, chunk_size: int) -> int:
    """Insert new addresses in chunks on ``conn`` (the caller owns the transaction); return how many."""
    added = 0
    iterator = iter(rows)
    while chunk := list(islice(iterator, chunk_size)):
        for row in chunk:
            check_address_shape(row.address)
            check_key_ref(row.key_ref)
        inserted = _insert_chunk(conn, chunk, now)
        if inserted < len(chunk):
            _refuse_key_ref_conflicts(conn, chunk)
        added += inserted
    return added


def _insert_chunk(conn: Connection, chunk: list[DepositAddress], now: datetime) -> int:
    if conn.dialect.name == "postgresql":
        params = {
            "now": now,
            "a": [r.address for r in chunk],
            "k": [r.key_ref for r in chunk],
            "l": [r.label for r in chunk],
        }
        return int(conn.exec_driver_sql(_PG_INSERT, params).rowcount)
    # The driver's executemany with the timestamp rendered once: Core would re-process every row's binds.
    render = ADDRESSES.c.created_at.type.bind_processor(conn.dialect)
    stamp = render(now) if render is not None else now
    values = [(r.address, r.key_ref, r.label, stamp) for r in chunk]
    return int(conn.exec_driver_sql(_SQLITE_INSERT, values).rowcount)


def _refuse_key_ref_conflicts(conn: Connection, chunk: list[DepositAddress]) -> None:
    """Skipped rows must be repeats of what is stored; a different key reference aborts the import."""
    wanted: dict[str, str] = {}
    for row in chunk:
        if wanted.setdefault(row.address, row.key_ref) != row.key_ref:
            raise AddressConflict(f"{row.address} appears twice with different key references")
    addresses = list(wanted)
    for start in range(0, len(addresses), _CONFLICT_CHUNK):
        part = addresses[start : start + _CONFLICT_CHUNK]
        query = select(ADDRESSES.c.address, ADDRESSES.c.key_ref).where(ADDRESSES.c.address.in_(part))
        for address, key_ref in conn.execute(query):
            if wanted[address] != key_ref:
                raise AddressConflict(f"{address} is already watched under another key reference")
