"""Off-policy evaluation on the terminal: each estimator beside the logged policy.

Input is the EvaluatePolicy reply as a dict with proto field names."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table

ESTIMATORS = {
    "ips": "IPS (inverse propensity)",
    "snips": "SNIPS (self-normalized IPS)",
    "dm": "DM (direct method)",
    "dr": "DR (doubly robust)",
}


def _num(value: Any) -> str:
    x = float(value)
    return f"{x:.4f}" if math.isfinite(x) else "-"


def estimates_table(data: dict[str, Any]) -> Table:
    """One row per estimator, then the logged policy's observed mean reward."""
    level = f"{float(data['confidence']):.0%}"
    t = Table(
        title=f"policy {data['policy']} with model version {data['model_version']} on "
        f"experiment {data['experiment']}: {data['decisions']} decisions, "
        f"reward {data['reward']} (objective {data['objective']})"
    )
    for col in ("estimator", "value", "std error", f"{level} interval", "effective sample size"):
        t.add_column(col, justify="right")
    for e in data["estimates"]:
        t.add_row(
            ESTIMATORS.get(e["estimator"], e["estimator"]),
            _num(e["value"]),
            _num(e["std_error"]),
            f"[{_num(e['ci_low'])}, {_num(e['ci_high'])}]",
            f"{float(e['effective_sample_size']):,.0f}",
        )
    t.add_row(
        "logged policy (observed)",
        _num(data["logged_mean_reward"]),
        "",
        f"[{_num(data['logged_ci_low'])}, {_num(data['logged_ci_high'])}]",
        f"{data['decisions']:,}",
    )
    return t


def evaluation_view(data: dict[str, Any]) -> Group:
    kinds = sorted({e["interval"] for e in data["estimates"]})
    note = (
        f"value: estimated mean reward per decision had the policy decided; intervals: "
        f"{', '.join(kinds)}; a small effective sample size means few logged decisions "
        "agree with the policy"
    )
    return Group(estimates_table(data), note)
