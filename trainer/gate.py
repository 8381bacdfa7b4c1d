"""The promotion gate: a candidate against production on logged decisions neither trained on
(known from their fingerprints, trainer/fingerprint.py), by the value of the decisions each
would make.

Each version's greedy policy (the campaign of largest predicted uplift of the objective, or
none when no uplift is positive) is valued by the doubly robust estimator on those decisions,
with the candidate's predictions as the shared reward model and the logged propensities; the
per-decision difference gives a paired 95% interval. The candidate is refused when its
decisions are worth less than production's by more than `margin` with that confidence (the
whole interval lies below -margin), or when its log loss (the guard) is above production's by
more than `log_loss_guard` (relative); otherwise it is promoted. A retrained candidate learned
from everything production did and more: it takes evidence, not a coin flip, to keep the older
model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import log_loss

from common.graph import output_names, revenue_output_names
from trainer.arms import MIN_PROPENSITY, Arms
from trainer.export import predict_onnx, session_for
from trainer.selection import Objective
from trainer.spec import FeatureSpec

Z_95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class GateResult:
    objective: str
    rows: int
    candidate_value: float
    production_value: float
    difference: float  # candidate - production, per decision
    difference_ci: tuple[float, float]
    candidate_log_loss: float
    production_log_loss: float
    margin: float
    promote: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        low, high = self.difference_ci
        verdict = "promoted" if self.promote else "kept production"
        return (
            f"DR value of the greedy policy on {self.rows} decisions neither trained on "
            f"({self.objective}): candidate {self.candidate_value:.5f} vs production "
            f"{self.production_value:.5f}, difference {self.difference:+.5f} "
            f"[{low:+.5f}, {high:+.5f}]; log loss {self.candidate_log_loss:.5f} vs "
            f"{self.production_log_loss:.5f} -> {verdict} ({self.reason})"
        )


@dataclass(frozen=True)
class _Scored:
    value: np.ndarray  # [n, K] the objective's value with each arm
    uplift: np.ndarray  # [n, K], NaN where the version cannot score the arm
    probability: np.ndarray  # [n] the hurdle target's probability with the logged arm


def _score(
    graph: bytes,
    rows: pd.DataFrame,
    spec: FeatureSpec,
    arms: Arms,
    known: list[bool],
    goal: Objective,
) -> _Scored:
    session = session_for(graph)
    n = len(rows)
    value = np.zeros((n, arms.k))
    uplift = np.full((n, arms.k), np.nan)
    names = revenue_output_names(goal.revenue) if goal.revenue else output_names(goal.target)
    for a, features in enumerate(arms.features):
        if not known[a]:
            continue
        out = predict_onnx(session, rows.assign(**features), spec)
        value[:, a], uplift[:, a] = out[names[0]], out[names[2]]
    logged = predict_onnx(session, rows, spec)[output_names(goal.target)[0]]
    return _Scored(value, uplift, np.asarray(logged, dtype=float))


def _greedy(scored: _Scored, control: int) -> np.ndarray:
    uplift = np.where(np.isnan(scored.uplift), -np.inf, scored.uplift)
    uplift[:, control] = 0.0
    best = np.argmax(uplift, axis=1)
    best[uplift[np.arange(len(best)), best] <= 0] = control
    return best


def _terms(
    y: np.ndarray, e: np.ndarray, logged: np.ndarray, q: np.ndarray, actions: np.ndarray
) -> np.ndarray:
    rows = np.arange(len(y))
    return q[rows, actions] + (logged == actions) * (y - q[rows, logged]) / e


def compare(
    candidate: tuple[bytes, list[dict[str, Any]] | None],
    production: tuple[bytes, list[dict[str, Any]] | None],
    rows: pd.DataFrame,
    spec: FeatureSpec,
    arms: Arms,
    goal: Objective,
    *,
    margin: float = 0.0,
    log_loss_guard: float = 0.05,
) -> GateResult:
    """Each version is (its graph, the campaign features of its arms, or None when it scores
    any campaign). `rows`: the gate's decisions with user features, the logged campaign's
    features, `propensity` and the reward column(s)."""
    logged = arms.locate(rows)
    y = (rows[goal.revenue] if goal.revenue else rows[goal.target]).to_numpy(float)
    e = np.maximum(rows["propensity"].to_numpy(float), MIN_PROPENSITY)
    scored = []
    for _, known_arms in (candidate, production):
        keys = None if known_arms is None else {arms.key(f) for f in known_arms}
        scored.append([keys is None or arms.key(f) in keys for f in arms.features])
    cand = _score(candidate[0], rows, spec, arms, scored[0], goal)
    prod = _score(production[0], rows, spec, arms, scored[1], goal)
    q = cand.value
    t_cand = _terms(y, e, logged, q, _greedy(cand, arms.control))
    t_prod = _terms(y, e, logged, q, _greedy(prod, arms.control))
    diff = t_cand - t_prod
    half = Z_95 * float(diff.std(ddof=1)) / np.sqrt(len(diff))
    label = rows[goal.target].to_numpy(int)
    losses = [
        float(log_loss(label, np.clip(s.probability, 1e-7, 1 - 1e-7), labels=[0, 1]))
        for s in (cand, prod)
    ]
    worse_by = float(diff.mean())
    reasons = []
    if worse_by + half < -margin:
        reasons.append(
            f"its decisions are worth less by {-worse_by:.5f} [{-worse_by - half:.5f}, "
            f"{-worse_by + half:.5f}] (margin {margin:g})"
        )
    if losses[0] > losses[1] * (1 + log_loss_guard):
        reasons.append(
            f"its log loss is above production's by more than {log_loss_guard:.0%} (the guard)"
        )
    return GateResult(
        objective=goal.name,
        rows=len(rows),
        candidate_value=float(t_cand.mean()),
        production_value=float(t_prod.mean()),
        difference=worse_by,
        difference_ci=(worse_by - half, worse_by + half),
        candidate_log_loss=losses[0],
        production_log_loss=losses[1],
        margin=margin,
        promote=not reasons,
        reason="; ".join(reasons) or "not worse",
    )
