"""Real data: off-policy evaluation on the Hillstrom e-mail test (uniform 1/3 assignment).

The estimators run on all 64,000 customers directly; through the store, a model is trained on
the first 16,000 customers and the next 12,000 are imported as the experiment's logs, so the
policies are evaluated on customers the model never saw (kept small: importing is the slow part)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback.import_spec import import_table, load_mapping
from feedback.ope import LoggedBandit, evaluate
from feedback.registry import get_version
from feedback.store import Store
from server.handlers.evaluation import EvaluationQuery, PolicyEvaluator
from server.runtime.model import LoadedModel, load_model
from tests.conftest import ROOT, require_shared_data
from trainer.data import load_table
from trainer.spec import FeatureSpec
from trainer.train import register, train

TRAINED_ON = 16_000
LOGGED = 12_000


class RegistryModels:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, version: str) -> LoadedModel:
        return load_model(get_version(self._store, int(version)))


def test_always_mens_email_on_all_customers_is_that_arms_visit_rate() -> None:
    frame = load_table(require_shared_data("hillstrom/hillstrom.csv"))
    assert len(frame) == 64_000
    arm = (frame["segment"] == "Mens E-Mail").to_numpy()
    data = LoggedBandit(
        reward=frame["visit"].to_numpy(dtype=float),
        pscore=[1 / 3] * len(frame),
        target_prob=arm.astype(float),
    )
    ips, snips = evaluate(data)
    rate = frame.loc[arm, "visit"].mean()  # 0.1828 on 21,307 customers
    assert snips.value == pytest.approx(rate, abs=1e-12)
    # The weights are exactly 3 on the arm's rows: IPS is 3 x its visits over all customers,
    # which is its visit rate scaled by the arm's share (21,307 of 64,000, not exactly 1/3).
    assert ips.value == pytest.approx(3 * frame.loc[arm, "visit"].sum() / len(frame), abs=1e-12)
    assert ips.value == pytest.approx(rate * arm.mean() * 3, abs=1e-12)
    assert ips.ci_low < rate < ips.ci_high
    assert ips.ess == pytest.approx(arm.sum())


def test_hillstrom_ips_matches_the_arm_and_a_learned_policy_gets_an_interval(
    sqlite_store: Store, tmp_path: Path
) -> None:
    frame = load_table(require_shared_data("hillstrom/hillstrom.csv"))
    spec = FeatureSpec.load(ROOT / "specs" / "hillstrom.toml")
    trained = train(frame.iloc[:TRAINED_ON], spec, family="logreg")
    version = str(register(sqlite_store, trained, tmp_path / "artifacts", source="test").version)
    logs = frame.iloc[TRAINED_ON : TRAINED_ON + LOGGED].reset_index(drop=True)
    mapping, control, weights = load_mapping(ROOT / "specs" / "hillstrom-import.toml")
    import_table(sqlite_store, logs, mapping, control, datetime.now(UTC), weights)
    evaluator = PolicyEvaluator(sqlite_store, RegistryModels(sqlite_store), "visit")

    mens = evaluator.evaluate(
        EvaluationQuery("hillstrom", version, {"type": "fixed", "campaign_id": "Mens E-Mail"})
    )
    assert mens.decisions == len(logs) and mens.reward == "click"  # visits arrive as clicks
    values = {e.estimator: e for e in mens.estimates}
    arm = logs["segment"] == "Mens E-Mail"
    # Weights are 3 on the arm's rows and 0 elsewhere: IPS is 3 x the arm's visits over all
    # rows, SNIPS the arm's own visit rate (the arm holds about, not exactly, a third).
    assert values["ips"].value == pytest.approx(3 * logs.loc[arm, "visit"].sum() / len(logs))
    assert values["snips"].value == pytest.approx(logs.loc[arm, "visit"].mean(), abs=1e-12)
    assert values["ips"].ci_low < logs.loc[arm, "visit"].mean() < values["ips"].ci_high
    assert values["ips"].ess == pytest.approx(arm.sum())

    learned = evaluator.evaluate(
        EvaluationQuery("hillstrom", version, {"type": "epsilon_greedy", "epsilon": 0.1})
    )
    assert [e.estimator for e in learned.estimates] == ["ips", "snips", "dm", "dr"]
    for e in learned.estimates:
        assert 0 < e.std_error < 0.02, e
        assert e.ci_low < e.value < e.ci_high, e
    # Targeting the e-mail with the larger predicted visit uplift beats sending no e-mail
    # (observed visit rate without e-mail about 0.106; with either about 0.15-0.18).
    no_email = logs.loc[logs["segment"] == "No E-Mail", "visit"].mean()
    dr = next(e for e in learned.estimates if e.estimator == "dr")
    assert dr.ci_low > no_email, (dr, no_email)
