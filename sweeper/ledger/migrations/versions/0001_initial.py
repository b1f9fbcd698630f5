"""The initial ledger: addresses, sweeps, transactions, energy orders, callbacks, cursor, history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_SWEEP = sa.text("state NOT IN ('CONFIRMED', 'FAILED', 'SKIPPED')")
SWEEP_STATES = (
    "'DETECTED', 'SKIPPED', 'ACTIVATING', 'ENERGY_ORDERED', 'ENERGY_READY', 'SIGNED', 'BROADCAST', "
    "'CONFIRMED', 'FAILED'"
)

APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER sweep_history_no_update BEFORE UPDATE ON sweep_history "
        "BEGIN SELECT RAISE(ABORT, 'sweep_history is append-only'); END",
        "CREATE TRIGGER sweep_history_no_delete BEFORE DELETE ON sweep_history "
        "BEGIN SELECT RAISE(ABORT, 'sweep_history is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION sweep_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'sweep_history is append-only'; END $$",
        "CREATE TRIGGER sweep_history_append_only BEFORE UPDATE OR DELETE ON sweep_history "
        "FOR EACH ROW EXECUTE FUNCTION sweep_history_append_only()",
    ],
}


def _time(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "deposit_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("key_ref", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposit_addresses")),
        sa.UniqueConstraint("address", name=op.f("uq_deposit_addresses_address")),
    )
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("token_symbol", sa.String(length=16), nullable=False),
        sa.Column("token_contract", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("energy_needed", sa.BigInteger(), nullable=True),
        sa.Column("energy_source", sa.String(length=32), nullable=True),
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.Column("txid", sa.String(length=64), nullable=True),
        sa.Column("cost_sun", sa.BigInteger(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("detected_block", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_block", sa.BigInteger(), nullable=True),
        _time("next_check_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(f"state IN ({SWEEP_STATES})", name=op.f("ck_sweeps_state")),
        sa.ForeignKeyConstraint(
            ["address"], ["deposit_addresses.address"], name=op.f("fk_sweeps_address_deposit_addresses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_index(op.f("ix_sweeps_address"), "sweeps", ["address"])
    op.create_index("ix_sweeps_state_next_check_at", "sweeps", ["state", "next_check_at"])
    op.create_index(
        "uq_sweeps_open_per_token",
        "sweeps",
        ["address", "token_contract"],
        unique=True,
        sqlite_where=OPEN_SWEEP,
        postgresql_where=OPEN_SWEEP,
    )
    op.create_table(
        "chain_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("txid", sa.String(length=64), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("signed_json", sa.Text(), nullable=False),
        sa.Column("expiration_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("fee_sun", sa.BigInteger(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.CheckConstraint(
            "kind IN ('transfer', 'activation', 'delegate', 'undelegate', 'burn_topup')",
            name=op.f("ck_chain_transactions_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('SIGNED', 'BROADCAST', 'CONFIRMED', 'FAILED', 'EXPIRED')",
            name=op.f("ck_chain_transactions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_chain_transactions_sweep_id_sweeps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_transactions")),
        sa.UniqueConstraint("txid", name=op.f("uq_chain_transactions_txid")),
    )
    op.create_index(op.f("ix_chain_transactions_sweep_id"), "chain_transactions", ["sweep_id"])
    op.create_table(
        "energy_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column("provider_order_id", sa.String(length=128), nullable=True),
        sa.Column("energy", sa.BigInteger(), nullable=False),
        sa.Column("cost_sun", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.CheckConstraint(
            "status IN ('REQUESTED', 'PENDING', 'DELIVERED', 'FAILED', 'UNKNOWN')",
            name=op.f("ck_energy_orders_status"),
        ),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name=op.f("fk_energy_orders_sweep_id_sweeps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_orders")),
        sa.UniqueConstraint("source", "order_no", name=op.f("uq_energy_orders_source_order_no")),
    )
    op.create_index(op.f("ix_energy_orders_order_no"), "energy_orders", ["order_no"])
    op.create_index(op.f("ix_energy_orders_sweep_id"), "energy_orders", ["sweep_id"])
    op.create_table(
        "callback_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _time("received_at"),
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_callback_events_event_key")),
    )
    op.create_index(op.f("ix_callback_events_order_no"), "callback_events", ["order_no"])
    op.create_table(
        "scanner_cursor",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scanner_cursor")),
    )
    op.create_table(
        "sweep_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _time("at"),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_history_sweep_id_sweeps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_history")),
    )
    op.create_index(op.f("ix_sweep_history_sweep_id"), "sweep_history", ["sweep_id"])
    for statement in APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("sweep_history")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION sweep_history_append_only()")
    op.drop_table("scanner_cursor")
    op.drop_table("callback_events")
    op.drop_table("energy_orders")
    op.drop_table("chain_transactions")
    op.drop_table("sweeps")
    op.drop_table("deposit_addresses")
