"""experiment lifecycle, policy state, late outcomes, propensity method

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:16:35.330902
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedback.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows get server defaults: old experiments run, old outcomes are not late.
    op.create_table(
        "policy_state",
        sa.Column("experiment", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("settled_through", feedback.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        sa.Column("rewards", sa.Float(), nullable=False),
        sa.Column("updates", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", feedback.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("experiment", "variant"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "propensity_method", sa.String(length=32), nullable=False, server_default="exact"
            )
        )
        batch_op.create_index(
            "ix_decisions_experiment_created_at", ["experiment", "created_at"], unique=False
        )

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="running")
        )
        batch_op.add_column(
            sa.Column("attribution_window_s", sa.Float(), nullable=False, server_default="86400")
        )
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column(
                "updated_at",
                feedback.models.UTCDateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )

    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_column("late")

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("options")
        batch_op.drop_column("attribution_window_s")
        batch_op.drop_column("status")

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_experiment_created_at")
        batch_op.drop_column("propensity_method")

    op.drop_table("policy_state")
