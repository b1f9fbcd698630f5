"""Spend guards: the kill switch, quarantine releases, budget crossings, and what each order risked.

Revision ID: 0005
Revises: 0002
Create Date: 2025-01-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("energy_orders") as batch:
        batch.add_column(sa.Column("quoted_sun", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reclaimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_energy_orders_created_at"), "energy_orders", ["created_at"])
    op.create_table(
        "spend_controls",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_spend_controls")),
    )
    op.create_table(
        "address_releases",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_address_releases")),
    )
    op.create_table(
        "budget_crossings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("budget", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("allowed", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_crossings")),
        sa.UniqueConstraint(
            "budget", "scope", "window_start", name=op.f("uq_budget_crossings_budget_scope_window_start")
        ),
    )


def downgrade() -> None:
    op.drop_table("budget_crossings")
    op.drop_table("address_releases")
    op.drop_table("spend_controls")
    op.drop_index(op.f("ix_energy_orders_created_at"), table_name="energy_orders")
    with op.batch_alter_table("energy_orders") as batch:
        batch.drop_column("reclaimed_at")
        batch.drop_column("refused_at")
        batch.drop_column("quoted_sun")
