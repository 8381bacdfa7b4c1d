"""A Score reply on the terminal: each candidate's predictions, then the decision."""

from __future__ import annotations

import json

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from clients.client import ScoreResult


def _rounded(values: dict[str, float]) -> str:
    return json.dumps({k: round(v, 4) for k, v in values.items()})


def decision_view(result: ScoreResult) -> Group:
    """Probability, uplift and propensity per candidate campaign, and which one was chosen."""
    d = result.decision
    table = Table(title=f"decision {d.decision_id} (model {d.model_version})")
    for col in ("campaign", "probability", "uplift", "propensity"):
        table.add_column(col)
    for c in result.candidates:
        table.add_row(
            c.campaign_id, _rounded(c.probability), _rounded(c.uplift), f"{c.propensity:.3f}"
        )
    chosen = f"chosen: {d.campaign_id or 'no campaign'} (p={d.propensity:.3f}, policy {d.policy})"
    return Group(table, escape(chosen))
