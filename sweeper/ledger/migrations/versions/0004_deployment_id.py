"""Deployment identifier and what each order really cost: ``deployment``, ``energy_orders`` refunds.

Provider order numbers came from the ledger's sequence alone, so a reset ledger, or two deployments on one
provider account, repeated numbers the provider had already seen (docs/PROVIDERS.md §5). The identifier
created here, once, goes into every number. ``refunded_sun`` keeps what a provider gave back (itrx
``refund_amount``, ea888fee ``refundAmount``); ``cost_sun`` is charged minus refunded. ``charge_mismatch``
marks an order whose charge was far from its quote (docs/PROVIDERS.md §3.4).

Revision ID: 0004_deployment_id
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from sweeper.ledger.deployment import new_deployment_id
from sweeper.ledger.types import UTCDateTime

revision: str = "0004_deployment_id"
down_revision: str | None = "0003_uint256_amounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "deployment",
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_deployment")),
    )
    op.bulk_insert(
        table, [{"slot": 1, "deployment_id": new_deployment_id(), "created_at": datetime.now(UTC)}]
    )
    with op.batch_alter_table("energy_orders") as batch:
        batch.add_column(sa.Column("refunded_sun", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("charge_mismatch", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("energy_orders") as batch:
        batch.drop_column("charge_mismatch")
        batch.drop_column("refunded_sun")
    op.drop_table("deployment")
