"""retrain_jobs.worker and heartbeat_at: jobs run in retrain-worker processes, which say who
runs a job and that it is still alive (a job whose heartbeat stops is abandoned)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedback.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("retrain_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("worker", sa.String(length=128), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("heartbeat_at", feedback.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("retrain_jobs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("worker")
