"""Token amounts up to uint256: ``sweeps.amount`` becomes NUMERIC(78,0) (PostgreSQL) / VARCHAR(78) (SQLite).

An 18-decimal token overflows BIGINT after about 9.2 whole tokens; TRC20 balances are uint256. SQLite
keeps the digits as text (see ``sweeper.ledger.types.Uint256``): the table is rebuilt there (batch mode;
``env.py`` checks the foreign keys that point at it before the commit).

Revision ID: 0003_uint256_amounts
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sweeper.ledger.types import Uint256

revision: str = "0003_uint256_amounts"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.alter_column(
            "amount",
            existing_type=sa.BigInteger(),
            type_=Uint256(),
            existing_nullable=False,
            postgresql_using="amount::numeric(78,0)",
        )


def downgrade() -> None:
    """Back to BIGINT: refused by the database if a stored amount no longer fits."""
    with op.batch_alter_table("sweeps") as batch:
        batch.alter_column(
            "amount",
            existing_type=Uint256(),
            type_=sa.BigInteger(),
            existing_nullable=False,
            postgresql_using="amount::bigint",
        )
