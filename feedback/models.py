"""SQLAlchemy tables of the store: decisions, outcomes, versions, stages, experiments, jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


# Longest id (unit, decision, event, campaign) the store keeps; callers validate against it.
ID_LENGTH = 256


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend. SQLite keeps no offset, so values are converted to
    UTC before they are written (comparisons then agree with PostgreSQL) and marked UTC on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class DecisionRow(Base):
    """One decision the server made, with the exact propensity of the chosen action."""

    __tablename__ = "decisions"
    # The policy updater reads one experiment's decisions by time.
    __table_args__ = (Index("ix_decisions_experiment_created_at", "experiment", "created_at"),)

    decision_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    experiment: Mapped[str] = mapped_column(String(128), default="")
    variant: Mapped[str] = mapped_column(String(128), default="")
    policy: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    # NULL when the policy chose "no campaign".
    campaign_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    propensity: Mapped[float] = mapped_column(Float)
    # "exact" (closed form) or "monte_carlo:<draws>" (Thompson sampling's choice probability,
    # estimated from that many posterior draws; the action was sampled from that estimate).
    propensity_method: Mapped[str] = mapped_column(String(32), default="exact")
    user_features: Mapped[dict[str, Any]]
    # [{campaign_id, features, probability, uplift, propensity}, ...] as scored.
    candidates: Mapped[list[Any]]
    # Campaign features of the chosen action (the control values for "no campaign").
    chosen_features: Mapped[dict[str, Any]]
    # The model's scores of the chosen action (feedback.decisions.chosen_prediction), apart from
    # the candidates so that calibration is one SQL aggregate and the policy updater reads little.
    chosen_prediction: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(index=True)
    # When the store received it (NULL: before revision 0010, or bulk-loaded): the report
    # summary's watermark, so old decisions written now (imports) are caught like new ones.
    logged_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)


class DeferredDecisionRow(Base):
    """A decision made with deferred activation (ScoreRequest.defer_activation), or an
    activation that came before its decision was written: the decision moves to `decisions`
    (decided at `activated_at`) once both halves are here, and this row is deleted."""

    __tablename__ = "deferred_decisions"

    decision_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    # The decision as it will be written (feedback.decisions.record_json); NULL: not yet here.
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # When the first half arrived: retention (feedback.privacy.purge) deletes old rows.
    created_at: Mapped[datetime] = mapped_column(index=True)


class OutcomeRow(Base):
    """One observed outcome, keyed by the caller's event id (idempotency)."""

    __tablename__ = "outcomes"

    seq: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    decision_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime] = mapped_column()
    # Received after its decision's attribution window closed: kept, but policies had already
    # settled that decision with the default reward.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # Indexed: the report summary's refresh looks up recently received outcomes.
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ModelVersionRow(Base):
    """An immutable model version: artifact, checksum, schema, metrics and lineage."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    artifact_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(32))
    # {"user": {name: "numeric"|"categorical"}, "campaign": {...}, "control": {...}}
    feature_schema: Mapped[dict[str, Any]]
    targets: Mapped[list[Any]]
    metrics: Mapped[dict[str, Any]]
    # Where the training data came from and how much of it there was.
    lineage: Mapped[dict[str, Any]]
    parent_version: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.version"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Lifecycle, not content: an archived version can no longer be pointed at.
    archived_at: Mapped[datetime | None] = mapped_column(nullable=True)


class StageRow(Base):
    """A movable pointer (production, candidate, ...) to a model version."""

    __tablename__ = "model_stages"

    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    # Share of traffic the stage takes (canary); production serves the rest.
    traffic_percent: Mapped[float] = mapped_column(Float, default=100.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StageEventRow(Base):
    """Every pointer move: who, when, from which version to which, and why."""

    __tablename__ = "model_stage_events"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    stage: Mapped[str] = mapped_column(String(32))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # None when the stage was cleared.
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    traffic_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ExperimentRow(Base):
    """An experiment: salt and weighted variants, each bound to a policy config."""

    __tablename__ = "experiments"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    salt: Mapped[str] = mapped_column(String(128))
    # [{"name": ..., "weight": ..., "policy": {"type": ..., ...}}, ...]
    variants: Mapped[list[Any]]
    # User feature holding a pre-period covariate for CUPED (e.g. Hillstrom's `history`); "": none.
    covariate: Mapped[str] = mapped_column(String(128), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # running: units are assigned to variants; stopped: everyone gets the released variant's
    # policy and decisions are no longer part of the experiment.
    status: Mapped[str] = mapped_column(String(16), default="running")
    # Outcomes later than this after their decision are flagged late; policies settle a
    # decision with no outcome by then with the default reward.
    # feedback.rewards.DEFAULT_ATTRIBUTION_WINDOW_S; experiments always write it.
    attribution_window_s: Mapped[float] = mapped_column(Float, default=86_400.0)
    # {"namespace": {...}, "eligibility": [...], "release": "...", "default_reward": 0.0}
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyStateRow(Base):
    """A learning policy's statistics for one experiment variant, shared by every replica.

    `settled_through` is the watermark: every decision of the variant made at or before it has
    been folded into `state` exactly once (with its outcome, or the default reward once the
    attribution window closed). Updates compare-and-set on it, so two replicas never both apply
    the same decisions."""

    __tablename__ = "policy_state"

    experiment: Mapped[str] = mapped_column(String(128), primary_key=True)
    variant: Mapped[str] = mapped_column(String(128), primary_key=True)
    policy: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]]
    settled_through: Mapped[datetime] = mapped_column()
    decisions: Mapped[int] = mapped_column(BigInteger, default=0)
    rewards: Mapped[float] = mapped_column(Float, default=0.0)
    updates: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RetrainJobRow(Base):
    """A retrain run. The unique outcome_seq_from makes a claim atomic across workers."""

    __tablename__ = "retrain_jobs"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    outcome_seq_from: Mapped[int] = mapped_column(BigInteger, unique=True)
    outcome_seq_to: Mapped[int] = mapped_column(BigInteger)
    # running, succeeded, failed, or abandoned (its worker stopped sending heartbeats).
    status: Mapped[str] = mapped_column(String(16), default="running")
    # The retrain worker running the job (host:pid), and when it last said it is alive.
    worker: Mapped[str] = mapped_column(String(128), default="", server_default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    result_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    promoted: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ShadowPredictionRow(Base):
    """What a shadow version predicted for a decision production made (never returned)."""

    __tablename__ = "shadow_predictions"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    shadow_version: Mapped[int] = mapped_column(Integer, index=True)
    production_version: Mapped[int] = mapped_column(Integer)
    # {target: {"probability": [per candidate], "uplift": [per candidate]}}
    predictions: Mapped[dict[str, Any]]
    # What the decision's policy would have chosen with these predictions (feedback.shadow).
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The A/B report's summary (feedback/report_summary.py): per-unit state and additive cells,
# refreshed incrementally so a report reads a few rows instead of every decision.


class ReportSummaryRow(Base):
    """How far an experiment's summary is up to date."""

    __tablename__ = "report_summaries"

    experiment: Mapped[str] = mapped_column(String(128), primary_key=True)
    covariate: Mapped[str] = mapped_column(String(128))
    # Decisions logged (DecisionRow.logged_at) before this, and outcomes up to this seq, are
    # summarized.
    decided_until: Mapped[datetime] = mapped_column()
    outcome_seq: Mapped[int] = mapped_column(BigInteger)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportUnitRow(Base):
    """One unit's decisions of one campaign ("" for no campaign) in one variant."""

    __tablename__ = "report_units"

    experiment: Mapped[str] = mapped_column(String(128), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    variant: Mapped[str] = mapped_column(String(128), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    decisions: Mapped[int] = mapped_column(BigInteger)
    outcomes: Mapped[int] = mapped_column(BigInteger)
    # Any click / conversion among these decisions (0/1), and how many decisions had one.
    click_any: Mapped[float] = mapped_column(Float)
    conversion_any: Mapped[float] = mapped_column(Float)
    click: Mapped[float] = mapped_column(Float)
    conversion: Mapped[float] = mapped_column(Float)
    revenue: Mapped[float] = mapped_column(Float)
    x: Mapped[float] = mapped_column(Float)
    first_day: Mapped[str] = mapped_column(String(10))
    # Over these decisions with a logged propensity p > 0 (the "everyone gets one campaign"
    # estimates, feedback.report_data.ChoiceSums): how many, and per metric the sums of the
    # reward r, r², r / p and (r / p)².
    chosen: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sum_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sum_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sum_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sq_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sq_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sq_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_sq_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_sq_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_sq_revenue: Mapped[float] = mapped_column(Float, default=0.0)


class ReportCellRow(Base):
    """Sums over the units of a variant whose first decision fell on a day (additive)."""

    __tablename__ = "report_cells"

    experiment: Mapped[str] = mapped_column(String(128), primary_key=True)
    variant: Mapped[str] = mapped_column(String(128), primary_key=True)
    # "day:<date>" for unit cells, "campaign:<id>" for a campaign's decisions.
    cell: Mapped[str] = mapped_column(String(ID_LENGTH + 16), primary_key=True)
    # Additive sums (feedback.report_summary.CELL_FIELDS): units, decisions and outcomes; per
    # metric its sum, its sum of squares and its sum times the covariate; the covariate's sum
    # and sum of squares. Campaign cells sum over decisions and keep no squares.
    units: Mapped[float] = mapped_column(Float, default=0.0)
    decisions: Mapped[float] = mapped_column(Float, default=0.0)
    outcomes: Mapped[float] = mapped_column(Float, default=0.0)
    sum_click: Mapped[float] = mapped_column(Float, default=0.0)
    sum_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    sum_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    sq_click: Mapped[float] = mapped_column(Float, default=0.0)
    sq_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    sq_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    sum_x: Mapped[float] = mapped_column(Float, default=0.0)
    sum_x2: Mapped[float] = mapped_column(Float, default=0.0)
    xy_click: Mapped[float] = mapped_column(Float, default=0.0)
    xy_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    xy_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    # Campaign cells: the choice sums of ReportUnitRow, summed (0 in day cells).
    chosen: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sum_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sum_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sum_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sq_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sq_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_sq_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_sq_click: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_sq_conversion: Mapped[float] = mapped_column(Float, default=0.0)
    ch_ips_sq_revenue: Mapped[float] = mapped_column(Float, default=0.0)


class CampaignRow(Base):
    """A campaign of the catalogue (feedback/catalogue.py): what Score may send by id."""

    __tablename__ = "campaigns"

    campaign_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    # Campaign features named in the model's campaign schema.
    features: Mapped[dict[str, Any]]
    # "active", "paused" or "archived" (never sent again, kept for the decisions that name it).
    status: Mapped[str] = mapped_column(String(16), default="active")
    starts_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Cost of one send: a fixed amount, plus a share of the expected basket with the campaign.
    cost_per_send: Mapped[float] = mapped_column(Float, default=0.0)
    cost_share: Mapped[float] = mapped_column(Float, default=0.0)
    # Budgets, each optional: sends or booked cost, per UTC day and in total.
    budget: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Frequency cap per unit: at most `cap_sends` sends in `cap_days` days (0: none).
    cap_sends: Mapped[int] = mapped_column(Integer, default=0)
    cap_days: Mapped[float] = mapped_column(Float, default=0.0)
    # The catalogue version of the last change to this campaign.
    revision: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class CatalogueStateRow(Base):
    """One row: the catalogue's version, raised by every change (servers poll it)."""

    __tablename__ = "catalogue_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))


class BudgetLeaseRow(Base):
    """How much of a campaign's budget (one period: a UTC day or the total) servers have
    taken in leases: a server sends only from its lease, so the sum never exceeds the budget."""

    __tablename__ = "budget_leases"

    campaign_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    # "total" or a UTC day "YYYY-MM-DD".
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    # "sends" or "cost".
    unit: Mapped[str] = mapped_column(String(8), primary_key=True)
    leased: Mapped[float] = mapped_column(Float, default=0.0)
