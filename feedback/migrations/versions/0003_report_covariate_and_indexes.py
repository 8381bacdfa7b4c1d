"""The A/B report: experiments.covariate (CUPED), the report summary tables and an index on
outcomes' receipt time (the (experiment, created_at) index on decisions came with 0002)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedback.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("covariate", sa.String(length=128), server_default="", nullable=False)
        )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcomes_received_at"), ["received_at"], unique=False)
    op.create_table(
        "report_cells",
        sa.Column("experiment", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=128), nullable=False),
        sa.Column("cell", sa.String(length=272), nullable=False),
        sa.Column("sums", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("experiment", "variant", "cell"),
    )
    op.create_table(
        "report_summaries",
        sa.Column("experiment", sa.String(length=128), nullable=False),
        sa.Column("covariate", sa.String(length=128), nullable=False),
        sa.Column("decided_until", feedback.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome_seq", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", feedback.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("experiment"),
    )
    op.create_table(
        "report_units",
        sa.Column("experiment", sa.String(length=128), nullable=False),
        sa.Column("unit_id", sa.String(length=256), nullable=False),
        sa.Column("variant", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=256), nullable=False),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        sa.Column("outcomes", sa.BigInteger(), nullable=False),
        sa.Column("click_any", sa.Float(), nullable=False),
        sa.Column("conversion_any", sa.Float(), nullable=False),
        sa.Column("click", sa.Float(), nullable=False),
        sa.Column("conversion", sa.Float(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("experiment", "unit_id", "variant", "campaign_id"),
    )


def downgrade() -> None:
    op.drop_table("report_units")
    op.drop_table("report_summaries")
    op.drop_table("report_cells")
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcomes_received_at"))
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("covariate")
