"""The demo's closing summary: reward and regret per variant, version and window; jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.rule import Rule
from rich.table import Table

if TYPE_CHECKING:
    from clients.demo import DemoSummary
    from clients.loop import LoopReport


def _table(title: str, columns: tuple[str, ...], justify: Any = "right") -> Table:
    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify=justify)
    return t


def baseline_table(summary: DemoSummary) -> Table:
    """Each variant against the single campaign best for all of its users (what a plain A/B
    test concludes) and the oracle (the best action per user), by the world's truth."""
    t = _table(
        "Against the best single campaign: true P(conversion) per decision on each variant's "
        "users; share of gain = (policy - best single) / (oracle - best single)",
        ("variant", "decisions", "policy", "best single", "campaign", "oracle", "share of gain"),
    )
    report = summary.report
    rows = [(name, s) for name, s in sorted(report.by_variant.items())]
    if "learned" in report.by_variant:
        rows.append(("learned, last 20%", report.last("learned")))
    for name, s in rows:
        arm, single = s.best_single
        t.add_row(
            name,
            f"{s.decisions}",
            f"{s.reward_per_decision:.4f}",
            f"{single:.4f}",
            summary.actions[arm] if 0 <= arm < len(summary.actions) else "?",
            f"{s.oracle_per_decision:.4f}",
            f"{s.gain_share:+.0%}",
        )
    return t


def variants_table(report: LoopReport) -> Table:
    t = _table(
        "Per variant; reward, oracle and regret are true P(conversion) per decision",
        ("variant", "decisions", "none", "conv. rate", "reward", "oracle", "regret"),
    )
    for name, s in sorted(report.by_variant.items()):
        t.add_row(
            name,
            f"{s.decisions}",
            f"{s.no_campaign / s.decisions:.1%}",
            f"{s.conversions / s.decisions:.4f}",
            f"{s.reward_per_decision:.4f}",
            f"{s.oracle_reward / s.decisions:.4f}",
            f"{s.regret_per_decision:.4f}",
        )
    return t


def served_table(report: LoopReport) -> Table:
    """The learned variant's reward under each model version it was served by."""
    t = _table(
        "Learned variant per served model version (true P(conversion))",
        ("model version", "decisions", "reward", "regret"),
    )
    learned = {m: st for (var, m), st in report.by_model.items() if var == "learned"}
    for version, st in sorted(learned.items(), key=lambda kv: int(kv[0])):
        t.add_row(
            version,
            f"{st.decisions}",
            f"{st.reward_per_decision:.4f}",
            f"{st.regret_per_decision:.4f}",
        )
    return t


def timeline_table(report: LoopReport) -> Table:
    """Learned against random per window of consecutive decisions: learning over time."""
    t = _table(
        "Reward per decision over time (windows of the loop)",
        ("decisions", "learned", "random", "learned - random"),
    )
    done = 0
    for window in report.timeline:
        n = sum(st.decisions for st in window.values())
        learned, random = window.get("learned"), window.get("random")
        if learned is None or random is None:
            continue
        t.add_row(
            f"{done + 1}-{done + n}",
            f"{learned.reward_per_decision:.4f}",
            f"{random.reward_per_decision:.4f}",
            f"{learned.reward_per_decision - random.reward_per_decision:+.4f}",
        )
        done += n
    return t


def versions_table(summary: DemoSummary) -> Table:
    t = _table(
        "Model versions", ("version", "parent", "source", "train rows", "conv. AUC", "log loss")
    )
    for mv in summary.versions:
        m = mv.metrics.get("conversion", {})
        t.add_row(
            str(mv.version),
            str(mv.parent_version or "-"),
            mv.lineage.get("source", "?"),
            str(mv.lineage.get("rows_train", "?")),
            f"{m.get('auc', float('nan')):.3f}",
            f"{m.get('log_loss', float('nan')):.4f}",
        )
    return t


def jobs_table(summary: DemoSummary) -> Table:
    t = _table("Retrain jobs", ("job", "status", "version", "promoted", "detail"), "left")
    for job in summary.jobs:
        t.add_row(
            str(job.id),
            job.status,
            str(job.result_version or "-"),
            "yes" if job.promoted else "no",
            job.message[:70],
        )
    return t


def gain_lines(summary: DemoSummary) -> list[str]:
    """Outcomes sent and stored; the learned policy against the best single campaign first,
    then against uniform random."""
    r = summary.report
    lines = [f"outcomes sent {r.outcomes_sent}, stored {r.outcomes_accepted}"]
    learned, random = r.by_variant.get("learned"), r.by_variant.get("random")
    if learned:
        arm, single = learned.best_single
        name = summary.actions[arm] if 0 <= arm < len(summary.actions) else "?"
        lines.append(
            f"learned policy: {learned.reward_per_decision:.4f} expected conversions per decision "
            f"vs {single:.4f} for everyone getting the best single campaign ({name}): "
            f"{learned.gain_share:+.0%} of the personalization gain "
            f"({r.last('learned').gain_share:+.0%} over its last 20% of decisions)"
        )
    if learned and random and random.reward_per_decision > 0:
        lift = learned.reward_per_decision / random.reward_per_decision - 1
        lines.append(
            f"vs uniform random {random.reward_per_decision:.4f} ({lift:+.1%}); "
            f"{len(summary.retrained)} model versions retrained from feedback"
        )
    if summary.paused_s:
        lines.append(
            f"the simulated users waited {summary.paused_s:.0f} s while retrains ran (days of "
            "traffic pass in seconds here; in a deployment a retrain is a small share of a day)"
        )
    return lines


def summary_view(summary: DemoSummary) -> Group:
    return Group(
        Rule("3. summary"),
        *gain_lines(summary),
        baseline_table(summary),
        variants_table(summary.report),
        served_table(summary.report),
        timeline_table(summary.report),
        versions_table(summary),
        jobs_table(summary),
    )
