"""The stake/burn transaction journal: one signed transaction per (source, order number).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tx_journal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("txid", sa.String(length=64), nullable=False),
        sa.Column("signed_json", sa.Text(), nullable=False),
        sa.Column("expiration_ms", sa.BigInteger(), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("amount_sun", sa.BigInteger(), nullable=False),
        sa.Column("energy", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tx_journal")),
        sa.UniqueConstraint("source", "key", name=op.f("uq_tx_journal_source_key")),
    )


def downgrade() -> None:
    op.drop_table("tx_journal")
