"""Shadow predictions: stored in batches, and compared with production's on the same decisions.

The report answers "would the shadow version have decided the same, and is it better
calibrated?" from traffic production actually served, before any user sees the shadow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from common.errors import FailedPrecondition
from feedback.models import DecisionRow, ShadowPredictionRow
from feedback.rewards import label_of, outcome_labels
from feedback.store import Store

CHUNK = 500  # decision ids per IN list


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    decision_id: str
    shadow_version: int
    production_version: int
    predictions: dict[str, dict[str, list[float]]]
    created_at: datetime
    # What the decision's policy would have chosen with the shadow's predictions:
    # {"campaign_id": id or None, "propensity": p, "policy": name}; empty when unknown.
    decision: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ShadowReport:
    shadow_version: int
    production_version: int
    production_versions: list[int]
    target: str
    decisions: int
    # Mean |shadow - production| of the target's probability over every scored candidate.
    mean_abs_probability_diff: float
    # Share of decisions where both versions' best action (by uplift; "none" is worth 0) agree.
    greedy_agreement: float
    # Share of decisions where the decision's own policy, deciding with the shadow's
    # predictions, chose what production served (NaN when no decision was recorded).
    decision_agreement: float
    # Over labelled decisions that sent a campaign: mean predicted probability of the chosen
    # campaign by each version, and the observed rate (calibration in the large).
    labelled: int
    shadow_mean_prediction: float
    production_mean_prediction: float
    observed_rate: float


def write_shadow_predictions(store: Store, records: Sequence[ShadowRecord]) -> None:
    with store.transaction() as session:
        session.execute(insert(ShadowPredictionRow), [asdict(r) for r in records])


def _greedy(uplift: list[float]) -> int:
    return int(np.argmax(np.append(np.asarray(uplift, dtype=float), 0.0)))


def _labels(store: Store, decision_ids: list[str], label: str) -> dict[str, float]:
    """The label of outcome type `label` of each decision that has outcomes (feedback/rewards)."""
    out: dict[str, float] = {}
    with store.transaction() as session:
        for start in range(0, len(decision_ids), CHUNK):
            stmt = select(outcome_labels(decision_ids[start : start + CHUNK]))
            out.update({r.decision_id: label_of(r, label) for r in session.execute(stmt)})
    return out


def shadow_report(store: Store, shadow_version: int, target: str, label: str) -> ShadowReport:
    """Compares on `target`; `label` is the outcome type (click, conversion) that labels it."""
    stmt = (
        select(ShadowPredictionRow, DecisionRow.candidates, DecisionRow.campaign_id)
        .join(DecisionRow, DecisionRow.decision_id == ShadowPredictionRow.decision_id)
        .where(ShadowPredictionRow.shadow_version == shadow_version)
        .order_by(ShadowPredictionRow.id)
    )
    with store.transaction() as session:
        rows = session.execute(stmt).all()
    if not rows:
        raise FailedPrecondition(f"no shadow predictions of version {shadow_version} yet")
    diffs: list[float] = []
    agree: list[bool] = []
    chosen: dict[str, tuple[float, float]] = {}
    # Each decision is compared with the production version that made it; the report names the
    # latest and lists them all.
    production_versions = sorted({row[0].production_version for row in rows})
    production_version = rows[-1][0].production_version
    same: list[bool] = []
    for shadow, candidates, campaign_id in rows:
        if shadow.decision:
            same.append(shadow.decision.get("campaign_id") == campaign_id)
        prod_p = [c["probability"][target] for c in candidates]
        prod_u = [c["uplift"][target] for c in candidates]
        shadow_p = shadow.predictions[target]["probability"]
        diffs.extend(abs(a - b) for a, b in zip(shadow_p, prod_p, strict=True))
        agree.append(_greedy(shadow.predictions[target]["uplift"]) == _greedy(prod_u))
        if campaign_id is not None:
            j = next(i for i, c in enumerate(candidates) if c["campaign_id"] == campaign_id)
            chosen[shadow.decision_id] = (shadow_p[j], prod_p[j])
    observed_by_id = _labels(store, sorted(chosen), label)
    observed = np.array([observed_by_id.get(d, 0.0) for d in chosen])
    picked = list(chosen.values())
    return ShadowReport(
        shadow_version=shadow_version,
        production_version=production_version,
        production_versions=production_versions,
        target=target,
        decisions=len(rows),
        mean_abs_probability_diff=float(np.mean(diffs)),
        greedy_agreement=float(np.mean(agree)),
        decision_agreement=float(np.mean(same)) if same else float("nan"),
        labelled=len(picked),
        shadow_mean_prediction=float(np.mean([s for s, _ in picked])) if picked else float("nan"),
        production_mean_prediction=float(np.mean([p for _, p in picked]))
        if picked
        else float("nan"),
        observed_rate=float(observed.mean()) if len(observed) else float("nan"),
    )
