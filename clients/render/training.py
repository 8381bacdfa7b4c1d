"""The train command's output: what cleaning changed and the held-out metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from trainer.report_text import candidate_name

if TYPE_CHECKING:
    from trainer.data import CleaningReport


def cleaning_lines(rep: CleaningReport) -> list[str]:
    """Rows in and out, what was dropped or repaired, rows per arm, and cleaning's notes."""
    lines = [
        f"cleaning: {rep.rows_in} rows in, {rep.rows_out} out; duplicates dropped "
        f"{rep.duplicate_rows_dropped}; bad targets dropped {rep.bad_target_rows_dropped}; "
        f"missing {sum(rep.missing_values.values())}; invalid {sum(rep.invalid_values.values())}"
    ]
    if rep.arms:
        lines.append("rows per arm: " + ", ".join(f"{k!r}: {v}" for k, v in rep.arms.items()))
    lines += [f"note: {note}" for note in rep.notes]
    return lines


def metrics_table(metrics: dict[str, dict[str, float]], rows: int, parity: float) -> Table:
    """Held-out AUC, log loss, Brier score and base rate per target; `parity` is the largest
    difference between sklearn's and onnxruntime's predictions on those rows."""
    table = Table(title=f"held-out metrics ({rows} rows), parity {parity:.1e}")
    for col in ("target", "AUC", "log loss", "Brier", "base rate"):
        table.add_column(col, justify="right")
    for target, m in metrics.items():
        table.add_row(
            target,
            f"{m.get('auc', float('nan')):.4f}",
            f"{m['log_loss']:.4f}",
            f"{m['brier']:.4f}",
            f"{m['base_rate']:.4f}",
        )
    return table


def selection_table(selection: dict[str, Any]) -> Table:
    """The candidate recipes selection cross-fitted: the doubly robust value of each one's
    greedy policy against everyone getting the best single arm, with 95% intervals."""
    best = selection["best_single"]
    single = selection["single_arms"][best]
    table = Table(
        title=f"recipe selection on {selection['rows']} rows ({selection['folds']} folds), "
        f"objective {selection['objective']}; best single arm {best!r}: {single:.5f} per decision"
    )
    for col in ("candidate", "value", "vs best single [95% CI]", "log loss", "AUC", "targeted"):
        table.add_column(col, justify="right")
    chosen = selection["chosen"]
    chosen_name = candidate_name(chosen)
    for c in selection["candidates"]:
        name = candidate_name(c)
        if c["error"]:
            table.add_row(name, "failed", c["error"][:40], "", "", "")
            continue
        lo, hi = c["gain_ci"]
        mark = " (chosen)" if name == chosen_name else ("" if c["eligible"] else " (guard)")
        table.add_row(
            name + mark,
            f"{c['value']:.5f}",
            f"{c['gain_over_best_single']:+.5f} [{lo:+.5f}, {hi:+.5f}]",
            f"{c['log_loss']:.4f}",
            f"{c['auc']:.4f}",
            f"{c['share_targeted']:.0%}",
        )
    return table
