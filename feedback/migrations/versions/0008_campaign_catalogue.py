"""The campaign catalogue: campaigns, the catalogue's version, budget leases

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedback.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(256), primary_key=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("cost_per_send", sa.Float(), nullable=False),
        sa.Column("cost_share", sa.Float(), nullable=False),
        sa.Column("budget", sa.JSON(), nullable=False),
        sa.Column("cap_sends", sa.Integer(), nullable=False),
        sa.Column("cap_days", sa.Float(), nullable=False),
        sa.Column("revision", BIG, nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    state = op.create_table(
        "catalogue_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", BIG, nullable=False),
    )
    # The one row, there from the start: concurrent first changes then only update it.
    op.bulk_insert(state, [{"id": 1, "version": 0}])
    op.create_table(
        "budget_leases",
        sa.Column("campaign_id", sa.String(256), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("unit", sa.String(8), primary_key=True),
        sa.Column("leased", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("budget_leases")
    op.drop_table("catalogue_state")
    op.drop_table("campaigns")
