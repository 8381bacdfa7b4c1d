"""The one settings object of a Campaign Lift process (env prefix CAMPAIGN_LIFT_)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("campaign-lift-data")


class Settings(BaseSettings):
    """Defaults work on a laptop: an SQLite file, a local artifact folder, a localhost port."""

    model_config = SettingsConfigDict(env_prefix="CAMPAIGN_LIFT_", frozen=True)

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'store.db'}",
        description="SQLAlchemy URL of the store: sqlite:///path (WAL) or "
        "postgresql+psycopg://user@host/db for several replicas.",
    )
    artifact_dir: Path = Field(
        default=DEFAULT_DATA_DIR / "artifacts",
        description="Folder holding the ONNX artifacts of registered model versions.",
    )
    host: str = Field(default="127.0.0.1", description="Address the gRPC server binds.")
    log_level: str = Field(
        default="INFO", description="Logging level of server and retrain-worker processes."
    )
    port: int = Field(default=50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    grpc_workers: int = Field(default=8, ge=1, description="Threads serving RPCs.")
    reuse_port: bool = Field(
        default=False,
        description="Let several server processes share the port (SO_REUSEPORT). Off by default "
        "so that a port already in use is an error, not a silent split of traffic.",
    )
    metrics_port: int = Field(
        default=9464,
        ge=-1,
        le=65535,
        description="Port of the Prometheus /metrics endpoint (on `host`); 0 picks a free "
        "one, -1 turns it off.",
    )
    http_port: int = Field(
        default=8080,
        ge=-1,
        le=65535,
        description="Port of the HTTP side (the console and the Personalizer-compatible REST "
        "API, on `host`), started by `campaign-lift serve` as a supervised child process; 0 "
        "picks a free one, -1 turns it off.",
    )
    http_grpc_target: str = Field(
        default="",
        description="Where the HTTP side calls the gRPC services; empty: this server's own "
        "port on loopback.",
    )
    http_session_ttl_s: float = Field(
        default=8 * 3600.0, gt=0, description="How long a console login lasts without use."
    )
    http_secure_cookies: bool = Field(
        default=False,
        description="Mark the console's session cookie Secure (set it where the console is "
        "reached over HTTPS, e.g. behind a TLS-terminating proxy).",
    )
    personalizer_unit_feature: str = Field(
        default="unit_id",
        description="The Personalizer-compatible Rank API takes the unit of assignment (user id) "
        "from this context feature (after flattening); without it each event is its own unit.",
    )
    personalizer_experiment: str = Field(
        default="",
        description="Experiment of Rank calls that name none (header X-Campaign-Lift-Experiment "
        "names one per call); empty: the server's default policy.",
    )
    personalizer_reward_type: Literal["click", "conversion", "revenue"] = Field(
        default="conversion",
        description="Outcome type a Personalizer reward is recorded as: binary types count a "
        "value above 0 as 1; revenue sums the values.",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM server certificate (chain); with tls_key_file turns on TLS."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle; when set, clients must present a certificate it signed "
        "(mutual TLS).",
    )
    admin_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token for ModelAdminService calls; empty disables the admin API.",
    )
    scoring_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token ScoringService and the inference protocol require; empty: open.",
    )
    feedback_token: SecretStr = Field(
        default=SecretStr(""), description="Bearer token FeedbackService requires; empty: open."
    )
    reader_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token ExperimentService reads (experiments, policy state, reports) "
        "and EvaluationService require; the admin token is accepted too; empty: open.",
    )
    admin_previous_token: SecretStr = Field(
        default=SecretStr(""),
        description="Also accepted as the admin token while set: rotation without downtime.",
    )
    scoring_previous_token: SecretStr = Field(
        default=SecretStr(""), description="Also accepted as the scoring token while set."
    )
    feedback_previous_token: SecretStr = Field(
        default=SecretStr(""), description="Also accepted as the feedback token while set."
    )
    reader_previous_token: SecretStr = Field(
        default=SecretStr(""), description="Also accepted as the reader token while set."
    )
    unit_id_hash_key: SecretStr = Field(
        default=SecretStr(""),
        description="When set, unit ids are stored as HMAC-SHA256 with this key (assignment "
        "still hashes the raw id); empty: stored as sent. Keep it stable: a new key makes "
        "returning units look new in reports.",
    )
    max_message_bytes: int = Field(default=32 * 1024 * 1024, description="gRPC message limit.")
    max_concurrent_rpcs: int = Field(
        default=64,
        ge=0,
        description="Calls in flight (running or waiting for one of grpc_workers) before new "
        "ones are refused with RESOURCE_EXHAUSTED instead of queueing without bound; 0: "
        "unbounded. Streaming calls hold a slot while open.",
    )
    max_candidates: int = Field(default=1000, ge=1, description="Candidates per ScoreRequest.")
    max_batch: int = Field(default=1000, ge=1, description="Requests per ScoreBatch call.")
    max_outcomes: int = Field(default=10000, ge=1, description="Outcomes per LogOutcomes call.")

    epsilon: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Exploration rate of the default policy."
    )
    objective: str = Field(
        default="conversion", description="Target whose predicted uplift the policy maximizes."
    )
    policy: str = Field(
        default="epsilon_greedy",
        description="Policy of requests that name no experiment: a policy type "
        "(epsilon_greedy takes `epsilon`), or a whole policy config as JSON, e.g. "
        '{"type": "bootstrap_thompson", "min_propensity": 0.01}.',
    )

    def policy_config(self) -> dict[str, Any]:
        """The default policy's config (feedback/policies/config.py validates it)."""
        import json

        text = self.policy.strip()
        if text.startswith("{"):
            config = json.loads(text)
            if not isinstance(config, dict):
                raise ValueError("policy must be a policy type or a JSON object")
            return config
        return (
            {"type": text, "epsilon": self.epsilon} if text == "epsilon_greedy" else {"type": text}
        )

    policy_state_refresh_s: float = Field(
        default=1.0, gt=0, description="How often a server re-reads learning policies' state."
    )
    policy_update_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often a server folds settled decisions into learning policies' state "
        "(every replica may; the store applies each decision once).",
    )
    policy_update_after_outcomes: int = Field(
        default=1000,
        ge=0,
        description="Also update as soon as this many outcomes arrived since the last update; "
        "0: on the timer only.",
    )
    policy_update_grace_s: float = Field(
        default=2.0,
        ge=0,
        description="A decision is settled this long after its attribution window closed, so "
        "the asynchronous decision log has written it.",
    )

    model_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often servers check the production pointer."
    )
    catalogue_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often servers check the campaign catalogue's version."
    )
    budget_lease_share: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description="Share of a campaign's budget a server leases at a time (at least one "
        "send): larger means fewer store calls, and more under-delivery when a server stops.",
    )
    profit: bool = Field(
        default=False,
        description="Policies maximize profit: the objective's expected incremental value "
        "minus each catalogue campaign's cost (fixed per send plus its share of the expected "
        "basket), so that no campaign is sent whose expected value does not cover its cost.",
    )
    conversion_value: float = Field(
        default=0.0,
        ge=0,
        description="With `profit` and a binary objective (conversion): the money one "
        "conversion is worth. Not needed when the objective is a revenue output.",
    )
    decision_flush_interval_s: float = Field(
        default=0.05, gt=0, description="Longest time a decision waits before its batch is written."
    )
    decision_log: bool = Field(
        default=True,
        description="Benchmark switch: false turns the decision log off (Score still decides, "
        "but nothing is recorded, so reports and retrains never see those decisions). Only for "
        "measuring what logging costs; never turn it off in production.",
    )
    decision_queue_size: int = Field(
        default=100_000, ge=1, description="Decisions buffered before Score answers UNAVAILABLE."
    )

    retrain_after_outcomes: int = Field(
        default=0, ge=0, description="Start a retrain after this many new outcomes; 0 disables."
    )
    retrain_max_production_age_s: float = Field(
        default=0.0,
        ge=0,
        description="Retrain when the production version is older than this (and outcomes "
        "arrived since the last job); 0 disables.",
    )
    retrain_drift_tolerance: float = Field(
        default=0.0,
        ge=0,
        description="Retrain when a campaign's observed rate is off production's predicted "
        "rate by more than this share (e.g. 0.25); 0 disables.",
    )
    retrain_drift_window_s: float = Field(
        default=86_400.0, gt=0, description="Decisions the drift rule looks at (their age span)."
    )
    retrain_drift_min_decisions: int = Field(
        default=500, ge=1, description="Fewest decisions of a campaign the drift rule judges."
    )
    attribution_window_s: float = Field(
        default=86_400.0,
        ge=0,
        description="Attribution window of decisions made outside any experiment (experiments "
        "set their own): later outcomes are late and count nowhere. Decisions younger than "
        "this are left out of training (their outcomes may still come).",
    )
    retrain_worker: bool = Field(
        default=True,
        description="`campaign-lift serve` starts a retrain worker as a supervised child "
        "process; turn off where workers run elsewhere (`campaign-lift retrain-worker`).",
    )
    retrain_poll_interval_s: float = Field(
        default=2.0, gt=0, description="How often a retrain worker asks the trigger rules."
    )
    retrain_heartbeat_s: float = Field(
        default=10.0, gt=0, description="How often a worker running a job says it is alive."
    )
    retrain_job_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="A running job whose worker sent no heartbeat for this long is abandoned "
        "and its window of outcomes is claimed again.",
    )
    retrain_worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Scheduling niceness the retrain worker adds to itself, so that on shared "
        "cores serving processes come first.",
    )
    model_family: str = Field(
        default="hgb",
        description="Estimator family of retrains of a production version that recorded no "
        "recipe (versions record theirs; retrain_recipe decides whether it is reused).",
    )
    retrain_recipe: Literal["production", "auto", "adaptive"] = Field(
        default="adaptive",
        description="What a retrain fits: production's recipe (family, learner, heads); "
        "'auto': the selection by decision value again; 'adaptive': selection again once the "
        "labelled rows have doubled since production's recipe was selected, its recipe "
        "otherwise.",
    )
    promotion_margin: float = Field(
        default=0.0,
        ge=0,
        description="The gate refuses a candidate whose decisions are worth less than "
        "production's by more than this per decision with 95% confidence (doubly robust "
        "value on decisions neither trained on), in the objective's units.",
    )
    promotion_tolerance: float = Field(
        default=0.05,
        ge=0,
        description="The gate's log-loss guard: the candidate's held-out log loss may exceed "
        "production's by at most this share.",
    )

    gate_min_rows: int = Field(
        default=500,
        ge=1,
        description="Fewest held-out decisions, all made after production was registered, that "
        "the promotion gate compares the candidate and production on.",
    )

    calibration_window_s: float = Field(
        default=3600.0,
        gt=0,
        description="Sliding window of decisions over which the server's calibration gauges "
        "compare predicted and observed rates per campaign and model version.",
    )
    calibration_refresh_s: float = Field(
        default=60.0,
        ge=0,
        description="How often a background thread recomputes the calibration gauges; 0: never.",
    )

    def ensure_dirs(self) -> None:
        """Creates the local folders the defaults point at."""
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and self.database_url != "sqlite:///:memory:":
            Path(self.database_url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
