"""Deferred decisions: held back until activated (Personalizer's deferActivation)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedback.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deferred_decisions",
        sa.Column("decision_id", sa.String(256), primary_key=True),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("activated_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deferred_decisions_created_at", "deferred_decisions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_deferred_decisions_created_at", "deferred_decisions")
    op.drop_table("deferred_decisions")
