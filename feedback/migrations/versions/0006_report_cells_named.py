"""report_cells: named sum columns instead of a positional JSON vector. The cells are a cache
of the base tables: they are recreated empty and every summary rebuilds at its next report

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SUMS = (
    "units",
    "decisions",
    "outcomes",
    "sum_click",
    "sum_conversion",
    "sum_revenue",
    "sq_click",
    "sq_conversion",
    "sq_revenue",
    "sum_x",
    "sum_x2",
    "xy_click",
    "xy_conversion",
    "xy_revenue",
)


def _cells(*columns: sa.Column) -> None:
    op.create_table(
        "report_cells",
        sa.Column("experiment", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=128), nullable=False),
        sa.Column("cell", sa.String(length=272), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("experiment", "variant", "cell"),
    )


def upgrade() -> None:
    op.drop_table("report_cells")
    op.execute("DELETE FROM report_summaries")  # every summary rebuilds its cells
    _cells(*(sa.Column(name, sa.Float(), nullable=False) for name in SUMS))


def downgrade() -> None:
    op.drop_table("report_cells")
    op.execute("DELETE FROM report_summaries")
    _cells(sa.Column("sums", sa.JSON(), nullable=False))
