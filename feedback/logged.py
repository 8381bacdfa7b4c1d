"""An experiment's logged decisions with their rewards, as off-policy evaluation reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from common.errors import InvalidArgument
from feedback.models import DecisionRow
from feedback.rewards import OUTCOME_TYPES, outcome_labels, reward_of
from feedback.store import Store


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    decision_id: str
    campaign_id: str | None  # None: no campaign
    propensity: float
    user_features: dict[str, Any]
    # [{"campaign_id": ..., "features": {...}, ...}] as scored; empty for imported logs.
    candidates: list[dict[str, Any]]
    chosen_features: dict[str, Any]
    reward: float


def logged_decisions(
    store: Store,
    experiment: str,
    reward: str,
    *,
    default_reward: float = 0.0,
    raw: bool = False,
    variant: str = "",
    decided_after: datetime | None = None,
    decided_before: datetime | None = None,
) -> list[LoggedDecision]:
    """The experiment's decisions (one variant's when named, made in [after, before)), oldest
    first, each with its reward of outcome type `reward` as learning policies see it
    (feedback/rewards.py: counted outcomes within the attribution window, `default_reward`
    when none came), or with `raw` every outcome at any time and 0 when none came."""
    if reward not in OUTCOME_TYPES:
        raise InvalidArgument(f"reward must be one of {OUTCOME_TYPES}, got {reward!r}")
    labels = outcome_labels(raw=raw)
    stmt = (
        # Columns, not ORM objects: tens of thousands of rows load several times faster.
        select(
            DecisionRow.decision_id,
            DecisionRow.campaign_id,
            DecisionRow.propensity,
            DecisionRow.user_features,
            DecisionRow.candidates,
            DecisionRow.chosen_features,
            labels.c[reward],
            labels.c[f"has_{reward}"],
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.experiment == experiment)
        .order_by(DecisionRow.created_at, DecisionRow.decision_id)
    )
    if variant:
        stmt = stmt.where(DecisionRow.variant == variant)
    if decided_after is not None:
        stmt = stmt.where(DecisionRow.created_at >= decided_after)
    if decided_before is not None:
        stmt = stmt.where(DecisionRow.created_at < decided_before)
    default = 0.0 if raw else default_reward
    with store.transaction() as session:
        return [
            LoggedDecision(
                decision_id=row.decision_id,
                campaign_id=row.campaign_id,
                propensity=row.propensity,
                user_features=row.user_features,
                candidates=row.candidates,
                chosen_features=row.chosen_features,
                reward=reward_of(row, reward, default),
            )
            for row in session.execute(stmt).all()
        ]


def campaign_catalogue(store: Store, experiment: str) -> dict[str, dict[str, Any]]:
    """Every campaign the experiment's logs ever chose, with the features logged the first time
    (by decision id): the candidate set of imported decisions, which keep none of their own,
    whatever variant or time range is being evaluated."""
    first = (
        select(DecisionRow.campaign_id, func.min(DecisionRow.decision_id).label("first"))
        .where(DecisionRow.experiment == experiment, DecisionRow.campaign_id.is_not(None))
        .group_by(DecisionRow.campaign_id)
        .subquery()
    )
    stmt = select(DecisionRow.campaign_id, DecisionRow.chosen_features).join(
        first, first.c.first == DecisionRow.decision_id
    )
    with store.transaction() as session:
        return {str(cid): dict(features) for cid, features in session.execute(stmt)}
