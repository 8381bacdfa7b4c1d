"""decisions.chosen_prediction: the model's scores of the chosen action, apart from the
candidates, so that calibration is one SQL aggregate; existing decisions are backfilled from
their stored candidates

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from feedback.decisions import chosen_prediction

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Decisions read and updated per round trip while backfilling (bounded memory at any size).
BATCH = 5000


def _backfill(connection: sa.Connection) -> None:
    decisions = sa.table(
        "decisions",
        sa.column("decision_id", sa.String),
        sa.column("campaign_id", sa.String),
        sa.column("candidates", sa.JSON),
        sa.column("chosen_prediction", sa.JSON),
    )
    read = (
        sa.select(decisions.c.decision_id, decisions.c.campaign_id, decisions.c.candidates)
        .where(decisions.c.decision_id > sa.bindparam("after"))
        .order_by(decisions.c.decision_id)
        .limit(BATCH)
    )
    write = (
        decisions.update()
        .where(decisions.c.decision_id == sa.bindparam("b_decision_id"))
        .values(chosen_prediction=sa.bindparam("b_prediction", type_=sa.JSON))
    )
    after = ""
    while rows := connection.execute(read, {"after": after}).all():
        updates: list[dict[str, Any]] = [
            {
                "b_decision_id": r.decision_id,
                "b_prediction": chosen_prediction(r.candidates, r.campaign_id),
            }
            for r in rows
            if r.candidates
        ]
        if updates:
            connection.execute(write, updates)
        after = rows[-1].decision_id


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chosen_prediction", sa.JSON(), nullable=False, server_default="{}")
        )
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("chosen_prediction")
