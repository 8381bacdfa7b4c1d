"""Evaluating a model version with a policy on an experiment's logs in a real store, with the
real ONNX model: estimates against values computed from the logged table itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from feedback.decisions import DecisionRecord, write_decisions
from feedback.import_spec import import_table
from feedback.importer import LogMapping
from feedback.registry import get_version
from feedback.store import Store
from server.handlers.evaluation import EvaluationQuery, PolicyEvaluation, PolicyEvaluator
from server.runtime.model import LoadedModel, load_model
from trainer.train import register

DECIDED = datetime(2026, 1, 5, tzinfo=UTC)


class RegistryModels:
    """Loads a registered version from the store (what ModelManager.get does, minus caching)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, version: str) -> LoadedModel:
        return load_model(get_version(self._store, int(version)))


def import_history(store: Store, frame: pd.DataFrame, sim_spec, name: str = "sim") -> None:  # type: ignore[no-untyped-def]
    mapping = LogMapping(
        row_id="decision_id",
        unit_id="unit_id",
        campaign_id="campaign_id",
        propensity="propensity",
        user_features=list(sim_spec.user_features),
        campaign_features=list(sim_spec.campaign_features),
        outcomes={"click": "click", "conversion": "conversion"},
        policy="uniform_random",
        experiment=name,
        variant="arm",
    )
    arms = frame.assign(arm=frame["campaign_id"].replace("", "none"))
    import_table(store, arms, mapping, "none", DECIDED)


@pytest.fixture
def logged(store: Store, world, sim_spec, trained_logreg, tmp_path: Path):  # type: ignore[no-untyped-def]
    frame = world.history(1_200, seed=21)
    import_history(store, frame, sim_spec)
    version = register(store, trained_logreg, tmp_path / "artifacts", source="test")
    return store, frame, str(version.version)


def run(store: Store, version: str, policy: dict, **kwargs) -> PolicyEvaluation:  # type: ignore[no-untyped-def, type-arg]
    evaluator = PolicyEvaluator(store, RegistryModels(store), "conversion")
    return evaluator.evaluate(EvaluationQuery("sim", version, policy, **kwargs))


def by_name(result: PolicyEvaluation) -> dict[str, float]:
    return {e.estimator: e.value for e in result.estimates}


def test_the_logging_policy_itself_is_valued_at_the_logged_mean(logged) -> None:  # type: ignore[no-untyped-def]
    store, frame, version = logged
    result = run(store, version, {"type": "uniform_random"})
    assert result.decisions == len(frame)
    assert result.objective == "conversion" and result.reward == "conversion"
    assert result.logged_mean_reward == pytest.approx(frame["conversion"].mean(), abs=1e-12)
    # Target = logging policy: every weight is 1, so IPS and SNIPS are the logged mean.
    values = by_name(result)
    assert values["ips"] == pytest.approx(result.logged_mean_reward, abs=1e-12)
    assert values["snips"] == pytest.approx(result.logged_mean_reward, abs=1e-12)
    assert {e.estimator: e.ess for e in result.estimates}["ips"] == pytest.approx(len(frame))
    lo, hi = result.logged_ci
    assert lo < result.logged_mean_reward < hi


def test_a_fixed_campaign_is_valued_from_its_own_rows(logged, trained_logreg) -> None:  # type: ignore[no-untyped-def]
    store, frame, version = logged
    campaign = frame.loc[frame["campaign_id"] != "", "campaign_id"].iloc[0]
    result = run(store, version, {"type": "fixed", "campaign_id": campaign})
    mine = frame["campaign_id"] == campaign
    values = by_name(result)
    # Weights are 6 (= 1 / (1/6)) on that campaign's rows and 0 elsewhere.
    assert values["ips"] == pytest.approx(6 * frame.loc[mine, "conversion"].sum() / len(frame))
    assert values["snips"] == pytest.approx(frame.loc[mine, "conversion"].mean())
    # DM: scikit-learn's prediction (not the ONNX path) with every row given that campaign.
    features = frame.loc[mine].iloc[0][list(trained_logreg.spec.campaign_features)]
    everyone = frame.assign(**features.to_dict())[list(trained_logreg.spec.features)]
    expected = trained_logreg.pipelines["conversion"].predict_proba(everyone)[:, 1].mean()
    assert values["dm"] == pytest.approx(expected, abs=1e-5)
    for e in result.estimates:
        assert e.ci_low < e.value < e.ci_high, e


def test_a_reward_the_model_does_not_predict_gets_no_dm_or_dr(logged) -> None:  # type: ignore[no-untyped-def]
    store, frame, version = logged
    result = run(store, version, {"type": "uniform_random"}, reward="click")
    assert [e.estimator for e in result.estimates] == ["ips", "snips"]
    assert result.logged_mean_reward == pytest.approx(frame["click"].mean())


def test_variant_and_time_filters(logged) -> None:  # type: ignore[no-untyped-def]
    store, frame, version = logged
    campaign = frame.loc[frame["campaign_id"] != "", "campaign_id"].iloc[0]
    result = run(store, version, {"type": "uniform_random"}, variant=campaign)
    assert result.decisions == int((frame["campaign_id"] == campaign).sum())
    inside = run(
        store,
        version,
        {"type": "uniform_random"},
        decided_after=DECIDED,
        decided_before=DECIDED + timedelta(seconds=1),
    )
    assert inside.decisions == len(frame)
    with pytest.raises(FailedPrecondition, match="'sim' has no logged decisions"):
        run(store, version, {"type": "uniform_random"}, decided_after=DECIDED + timedelta(days=1))


def test_bad_requests_are_named(logged) -> None:  # type: ignore[no-untyped-def]
    store, _, version = logged
    with pytest.raises(NotFound, match="experiment 'nope' does not exist"):
        PolicyEvaluator(store, RegistryModels(store), "conversion").evaluate(
            EvaluationQuery("nope", version, {"type": "uniform_random"})
        )
    with pytest.raises(NotFound, match="model_version 99 is not registered"):
        run(store, "99", {"type": "uniform_random"})
    with pytest.raises(NotFound, match="has no variant 'zzz'"):
        run(store, version, {"type": "uniform_random"}, variant="zzz")
    with pytest.raises(InvalidArgument, match=r"policy.epsilon must be <= 1.0, got 3"):
        run(store, version, {"type": "epsilon_greedy", "epsilon": 3})
    with pytest.raises(InvalidArgument, match=r"objective must be one of .* got 'spend'"):
        run(store, version, {"type": "uniform_random"}, objective="spend")
    with pytest.raises(InvalidArgument, match=r"reward must be one of .* got 'likes'"):
        run(store, version, {"type": "uniform_random"}, reward="likes")


def test_a_zero_propensity_in_the_logs_is_refused_naming_the_decision(logged, world) -> None:  # type: ignore[no-untyped-def]
    store, frame, version = logged
    row = frame.iloc[0]
    bad = DecisionRecord(
        decision_id="broken-1",
        unit_id="u-1",
        experiment="sim",
        variant="",
        policy="logged",
        model_version="",
        campaign_id=None,
        propensity=0.0,
        user_features={k: world.user_features(0)[k] for k in world.user_features(0)},
        candidates=[],
        chosen_features={"campaign_type": "none", "discount_pct": 0.0, "duration_days": 0.0},
        created_at=DECIDED,
    )
    assert row["decision_id"] != "broken-1"
    write_decisions(store, [bad])
    with pytest.raises(
        FailedPrecondition,
        match=r"logged propensity of decision 'broken-1' must be in \(0, 1\], got 0.0",
    ):
        run(store, version, {"type": "uniform_random"})


def test_logs_the_model_cannot_read_are_refused_naming_the_decision(logged) -> None:  # type: ignore[no-untyped-def]
    store, _, version = logged
    bad = DecisionRecord(
        decision_id="no-features",
        unit_id="u-2",
        experiment="sim",
        variant="",
        policy="logged",
        model_version="",
        campaign_id=None,
        propensity=0.5,
        user_features={"age": 30.0},
        candidates=[],
        chosen_features={},
        created_at=DECIDED,
    )
    write_decisions(store, [bad])
    with pytest.raises(FailedPrecondition, match=r"decision 'no-features': user_features\["):
        run(store, version, {"type": "uniform_random"})


def test_estimates_track_the_world_truth(
    store: Store, world, sim_spec, trained_logreg, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """On 6,000 uniformly logged rows, always giving the campaign that converts best on average
    is valued near its true conversion rate over the logged users."""
    frame = world.history(6_000, seed=31)
    import_history(store, frame, sim_spec)
    version = str(register(store, trained_logreg, tmp_path / "artifacts", source="t").version)
    users = pd.Index(world.users["unit_id"]).get_indexer(frame["unit_id"])
    assert (users >= 0).all()
    rates = [
        world.truth("conversion", users, np.full(len(users), a)).mean()
        for a in range(len(world.campaigns))
    ]
    best = int(np.argmax(rates))
    result = run(
        store, version, {"type": "fixed", "campaign_id": world.campaigns[best].campaign_id}
    )
    for e in result.estimates:
        if e.estimator != "dm":  # DM is only as good as the model
            assert abs(e.value - rates[best]) < 3 * e.std_error, (e, rates[best])


def test_a_learning_policy_is_evaluated_with_its_variants_learned_state(logged) -> None:  # type: ignore[no-untyped-def]
    from feedback.models import PolicyStateRow

    store, frame, version = logged
    arms = ["coupon-10", "coupon-25", "points-x3", "newsletter", "flash-sale", ""]
    counts = {a: [1000.0, 0.0] if a == "coupon-10" else [0.0, 1000.0] for a in arms}
    with store.transaction() as session:
        session.add(
            PolicyStateRow(
                experiment="sim",
                variant="coupon-10",
                policy="thompson",
                state={"arms": counts},
                settled_through=DECIDED,
            )
        )
    learned = run(store, version, {"type": "thompson", "draws": 200}, variant="coupon-10")
    rows = frame[frame["campaign_id"] == "coupon-10"]
    # The posterior sends everyone to coupon-10: every weight is 6, SNIPS is the arm's mean.
    assert by_name(learned)["snips"] == pytest.approx(rows["conversion"].mean(), abs=1e-12)
    assert by_name(learned)["ips"] == pytest.approx(
        6 * rows["conversion"].sum() / len(rows), abs=1e-12
    )
    # Without learned state the flat prior spreads the choice: weights near 1, not 6.
    prior = run(store, version, {"type": "thompson", "draws": 200}, variant="newsletter")
    newsletter = frame[frame["campaign_id"] == "newsletter"]
    assert prior.decisions == len(newsletter)
    assert by_name(prior)["ips"] == pytest.approx(newsletter["conversion"].mean(), rel=0.35)
    again = run(store, version, {"type": "thompson", "draws": 200}, variant="coupon-10")
    assert by_name(again) == by_name(learned)  # Monte Carlo seeded per decision
