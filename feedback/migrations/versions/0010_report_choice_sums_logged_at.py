"""The report summary keeps the "best single campaign" sums (no scan of the decisions per
report), and decisions say when they were written (`logged_at`): the summary's watermark, so
writing old decisions (imports) no longer invalidates it. Summaries rebuild at their next report.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedback.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

METRICS = ("click", "conversion", "revenue")
CHOICE = ("chosen", *(f"ch_{k}_{m}" for k in ("sum", "sq", "ips", "ips_sq") for m in METRICS))


def upgrade() -> None:
    for table in ("report_units", "report_cells"):
        with op.batch_alter_table(table) as batch:
            for name in CHOICE:
                batch.add_column(
                    sa.Column(name, sa.Float(), nullable=False, server_default=sa.text("0"))
                )
    # Written before this revision: NULL (already summarized, or covered by the rebuild).
    op.add_column("decisions", sa.Column("logged_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_decisions_logged_at", "decisions", ["logged_at"])
    op.execute("DELETE FROM report_summaries")  # every summary rebuilds with the new sums


def downgrade() -> None:
    op.drop_index("ix_decisions_logged_at", "decisions")
    op.drop_column("decisions", "logged_at")
    for table in ("report_units", "report_cells"):
        with op.batch_alter_table(table) as batch:
            for name in CHOICE:
                batch.drop_column(name)
