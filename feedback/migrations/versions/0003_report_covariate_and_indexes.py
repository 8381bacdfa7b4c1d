"""experiments.covariate (CUPED) and the report's indexes

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("covariate", sa.String(length=128), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("covariate")
