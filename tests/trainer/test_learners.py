"""Effect learners on a seeded synthetic log whose heterogeneous effects are known: each one
recovers them, beats the additive S-learner where effects interact with the user's features,
exports into one graph with parity (heads too), and selection picks by decision value."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from scipy.stats import spearmanr

from common.graph import heads_output_name, output_names
from trainer.arms import arms_of
from trainer.export import predict_onnx, session_for
from trainer.pipeline import build_pipeline
from trainer.spec import FeatureSpec
from trainer.train import train

SPEC = FeatureSpec(
    name="synthetic-arms",
    user_features={"age": "numeric", "spend": "numeric", "tier": "categorical"},
    campaign_features={"offer": "categorical", "discount": "numeric"},
    control={"offer": "none", "discount": 0.0},
    targets=("conversion",),
    outcome_types={"conversion": "conversion"},
    treatment="arm",
    propensity="propensity",
)
ARMS = {"none": ("none", 0.0), "coupon": ("coupon", 20.0), "email": ("email", 0.0)}


def true_effects(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The coupon helps big spenders and hurts small ones; the e-mail helps the young only."""
    spend = frame["spend"].to_numpy(float)
    young = (frame["age"] < 35).to_numpy()
    return {"coupon": 0.25 * spend - 0.08, "email": np.where(young, 0.10, -0.06)}


def synthetic(n: int, seed: int, *, confounded: bool = False) -> pd.DataFrame:
    """A log of the three arms; uniform, or (`confounded`) with big spenders logged on the
    coupon 70% of the time, the logged propensity column saying so."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n).astype(float),
            "spend": rng.uniform(0, 1, n),
            "tier": rng.choice(["gold", "silver"], n),
        }
    )
    probs = np.full((n, 3), 1 / 3)
    if confounded:
        big = frame["spend"].to_numpy() > 0.6
        probs[big] = [0.15, 0.7, 0.15]
    arm = (rng.uniform(size=(n, 1)) > probs.cumsum(axis=1)).sum(axis=1)
    names = np.array(list(ARMS))[arm]
    frame["arm"] = names
    frame["offer"] = [ARMS[a][0] for a in names]
    frame["discount"] = [ARMS[a][1] for a in names]
    frame["propensity"] = probs[np.arange(n), arm]
    base = 0.12 + 0.1 * frame["spend"].to_numpy() + 0.05 * (frame["tier"] == "gold").to_numpy()
    effects = true_effects(frame)
    uplift = np.select([names == "coupon", names == "email"], [effects["coupon"], effects["email"]])
    frame["conversion"] = (rng.uniform(size=n) < np.clip(base + uplift, 0, 1)).astype(int)
    return frame


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return synthetic(12_000, seed=1)


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return synthetic(3_000, seed=2)


def _rho(fitted, fresh: pd.DataFrame) -> dict[str, float]:  # type: ignore[no-untyped-def]
    arms = arms_of(synthetic(300, seed=9), SPEC)
    scores = fitted.arm_scores(fresh, arms)
    truth = true_effects(fresh)
    return {
        name: float(spearmanr(scores.uplift[:, arms.names.index(name)], truth[name]).statistic)
        for name in ("coupon", "email")
    }


@pytest.mark.parametrize("family", ["logreg", "hgb"])
@pytest.mark.parametrize("learner", ["t-learner", "x-learner", "dr-learner", "s-learner"])
def test_each_learner_recovers_the_known_effects(
    log: pd.DataFrame, fresh: pd.DataFrame, learner: str, family: str
) -> None:
    model = train(log, SPEC, family=family, uplift_method=learner)
    rho = _rho(model.fitted["conversion"], fresh)
    assert rho["coupon"] > 0.6 and rho["email"] > 0.5, rho
    assert model.parity_max_abs_diff <= 1e-5


def test_per_arm_learners_beat_the_additive_s_learner_where_effects_interact(
    log: pd.DataFrame, fresh: pd.DataFrame
) -> None:
    """An additive logistic S-learner moves every user's log-odds by one amount per campaign:
    the e-mail's effect, which changes sign with age, it cannot rank."""
    from trainer.learners import SLearnerFit

    x = log[list(SPEC.features)]
    additive = build_pipeline(SPEC, "logreg").fit(x, log["conversion"])
    s_rho = _rho(SLearnerFit(SPEC, "logreg", additive), fresh)
    for learner in ("t-learner", "dr-learner"):
        rho = _rho(
            train(log, SPEC, family="logreg", uplift_method=learner).fitted["conversion"], fresh
        )
        assert rho["email"] > s_rho["email"] + 0.3, (learner, rho, s_rho)


def test_the_dr_learner_uses_logged_propensities_on_a_confounded_log(fresh: pd.DataFrame) -> None:
    """Big spenders were logged on the coupon 70% of the time; with the propensity column the
    DR-learner's effects still rank as the truth does, for both campaigns."""
    model = train(
        synthetic(12_000, seed=3, confounded=True), SPEC, family="hgb", uplift_method="dr-learner"
    )
    rho = _rho(model.fitted["conversion"], fresh)
    assert rho["coupon"] > 0.6 and rho["email"] > 0.5, rho


@pytest.mark.parametrize("learner", ["s-learner", "dr-learner"])
def test_bootstrap_heads_are_served_beside_the_uplift(log: pd.DataFrame, learner: str) -> None:
    model = train(log.head(6_000), SPEC, family="logreg", uplift_method=learner, heads=4)
    graph = onnx.load_from_string(model.onnx_bytes)
    name = heads_output_name("conversion")
    assert name in {o.name for o in graph.graph.output}
    served = predict_onnx(session_for(model.onnx_bytes), model.holdout, SPEC)
    heads = served[name]
    assert heads.shape == (len(model.holdout), 4)
    # Heads disagree (they saw different resamples) around the point estimate.
    uplift = served[output_names("conversion")[2]]
    assert heads.std(axis=1).mean() > 1e-4
    assert np.corrcoef(heads.mean(axis=1), uplift)[0, 1] > 0.8
    assert model.schema["heads"] == {"conversion": 4}


def test_per_arm_schema_lists_the_arms(log: pd.DataFrame) -> None:
    model = train(log.head(6_000), SPEC, family="logreg", uplift_method="t-learner")
    arms = {a["name"]: a["features"] for a in model.schema["arms"]}
    assert set(arms) == set(ARMS)
    assert arms["none"] == {"offer": "none", "discount": 0.0}
    assert model.schema["learner"] == "t-learner"


def test_selection_chooses_by_the_value_of_decisions(log: pd.DataFrame) -> None:
    model = train(log, SPEC, family="auto", uplift_method="auto")
    selection = model.selection
    assert selection is not None
    table = {(c.family, c.learner, c.members): c for c in selection.candidates}
    assert len(table) == 7 + 2  # the grid, and the averages of the best 2 and 3
    for c in table.values():
        assert c.ci[0] <= c.value <= c.ci[1]
    chosen = (selection.chosen.family, selection.chosen.learner)
    assert (model.recipe.family, model.recipe.learner) == chosen
    assert model.recipe.members == selection.chosen.members
    eligible = [c for c in table.values() if c.eligible]
    assert selection.chosen.value == max(c.value for c in eligible)
    # Personalizing is worth it here: the chosen policy beats everyone-gets-one-arm.
    assert selection.chosen.value > max(selection.single_arms.values())
    lineage = model.extra_lineage["selection"]
    assert lineage["chosen"]["family"] == chosen[0]
    assert lineage["chosen"]["learner"] == chosen[1]
    assert model.extra_lineage["recipe"]["learner"] == chosen[1]


def test_an_ensemble_averages_its_members_in_the_graph(log: pd.DataFrame) -> None:
    from trainer.recipe import Recipe

    recipe = Recipe(
        family="ensemble",
        learner="ensemble",
        members=(("logreg", "t-learner"), ("hgb", "s-learner")),
        heads=2,
    )
    model = train(log.head(6_000), SPEC, recipe=recipe)
    assert model.parity_max_abs_diff <= 1e-5
    members = [
        train(log.head(6_000), SPEC, family=f, uplift_method=lr).fitted["conversion"]
        for f, lr in recipe.members
    ]
    rows = model.holdout
    mean = np.mean([m.served(rows)["uplift"] for m in members], axis=0)
    served = predict_onnx(session_for(model.onnx_bytes), rows, SPEC)
    np.testing.assert_allclose(served[output_names("conversion")[2]], mean, atol=1e-5)
    assert model.schema["arms"]  # a member keeps a model per arm: the arms are served
    assert model.extra_lineage["recipe"]["members"] == [list(m) for m in recipe.members]


def test_an_arm_with_a_handful_of_conversions_gets_no_model_of_its_own() -> None:
    """A log where one arm converted only a few times: the per-arm learners refuse it by name
    (no crash inside early stopping's split), and the selection still trains a model, from
    the candidates that pool the arms."""
    from common.errors import InvalidArgument

    small = synthetic(900, seed=4)
    email = small.index[small["arm"] == "email"]
    small.loc[email[small.loc[email, "conversion"] == 1][3:], "conversion"] = 0  # 3 left
    with pytest.raises(
        InvalidArgument, match=r"'email' has \d+ rows and [0-3] with conversion = 1"
    ):
        train(small, SPEC, family="hgb", uplift_method="t-learner")
    model = train(small, SPEC, family="auto", uplift_method="auto")
    assert model.selection is not None
    for c in model.selection.candidates:  # the per-arm candidates are listed, not eligible
        assert c.eligible == (c.learner in {"s-learner", "ensemble"}), c
    chosen = model.recipe.members or ((model.recipe.family, model.recipe.learner),)
    assert all(learner == "s-learner" for _, learner in chosen)
    assert model.parity_max_abs_diff <= 1e-5


def test_arms_locate_agrees_with_the_arms_key_row_by_row() -> None:
    """The column-wise lookup gives every row the arm its normalized features name, and -1
    to a combination no arm has, to a missing value, and to a value no arm uses."""
    data = synthetic(400, seed=5)
    arms = arms_of(data, SPEC)
    frame = data[list(SPEC.campaign_features)].copy().astype(object)
    frame.iloc[0, 0] = None
    frame.iloc[1, 1] = float("nan")  # the discount
    frame.iloc[2, 0] = "never-seen"
    keys = {arms.key(f): a for a, f in enumerate(arms.features)}
    want = []
    for row in frame.to_dict("records"):
        try:
            want.append(keys.get(arms.key(row), -1))
        except (TypeError, ValueError):
            want.append(-1)
    got = arms.locate(frame)
    assert got.tolist() == want
    assert got[0] == got[1] == got[2] == -1
    assert (got[3:] >= 0).all()
