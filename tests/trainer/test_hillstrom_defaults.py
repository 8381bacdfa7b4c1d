"""Real data, the peers' split: `campaign-lift train`'s defaults on Hillstrom (rows whose index
is a multiple of 5 held out) against logistic regression and LightGBM for response, and
scikit-uplift's Qini AUC for the Womens e-mail's effect on visits."""

from __future__ import annotations

import lightgbm  # pinned dev dependencies: the peers this test measures us against
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklift.metrics import qini_auc_score

from common.graph import output_names
from tests.conftest import ROOT, require_shared_data
from trainer.data import clean
from trainer.export import predict_onnx, session_for
from trainer.spec import FeatureSpec
from trainer.train import TrainedModel, train

SPEC = FeatureSpec.load(ROOT / "specs" / "hillstrom.toml")
CATEGORICAL = [c for c, k in SPEC.features.items() if k == "categorical"]
NUMERIC = [c for c, k in SPEC.features.items() if k == "numeric"]


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = pd.read_csv(require_shared_data("hillstrom/hillstrom.csv"))
    held = data.index % 5 == 0
    return data[~held].reset_index(drop=True), clean(data[held], SPEC)[0]


@pytest.fixture(scope="module")
def ours(split: tuple[pd.DataFrame, pd.DataFrame]) -> TrainedModel:
    """The CLI's defaults: a recipe chosen by decision value, refit on every training row."""
    return train(split[0], SPEC, family="auto", uplift_method="auto", refit=True)


def _lightgbm_frame(rows: pd.DataFrame) -> pd.DataFrame:
    x = rows[list(SPEC.features)].copy()
    for col in CATEGORICAL:
        x[col] = x[col].astype("category")
    return x


@pytest.mark.parametrize("target", ["visit", "conversion"])
def test_response_auc_is_within_0005_of_the_better_peer(
    split: tuple[pd.DataFrame, pd.DataFrame], ours: TrainedModel, target: str
) -> None:
    train_rows, test = split
    fit_rows = clean(train_rows, SPEC)[0]
    features = list(SPEC.features)
    logistic = make_pipeline(
        ColumnTransformer(
            [
                ("numeric", StandardScaler(), NUMERIC),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ]
        ),
        LogisticRegression(max_iter=2_000),
    ).fit(fit_rows[features], fit_rows[target])
    boosted = lightgbm.LGBMClassifier(random_state=0, n_jobs=1, verbose=-1).fit(
        _lightgbm_frame(fit_rows), fit_rows[target]
    )
    peers = {
        "logistic regression": roc_auc_score(
            test[target], logistic.predict_proba(test[features])[:, 1]
        ),
        "LightGBM": roc_auc_score(test[target], boosted.predict_proba(_lightgbm_frame(test))[:, 1]),
    }
    served = predict_onnx(session_for(ours.onnx_bytes), test, SPEC)[output_names(target)[0]]
    auc = roc_auc_score(test[target], served)
    # Measured: visit 0.6513 (LR 0.6459, LightGBM 0.6455); conversion 0.6384 (LR 0.6374).
    assert auc >= max(peers.values()) - 0.005, (auc, peers, ours.recipe)


def test_womens_email_visit_qini_auc_reaches_the_logistic_t_learners(
    split: tuple[pd.DataFrame, pd.DataFrame], ours: TrainedModel
) -> None:
    """scikit-uplift's qini_auc_score of the served uplift, Womens E-Mail against No E-Mail:
    0.072 is a logistic T-learner's on this split; ours measured 0.0761."""
    test = split[1]
    rows = test[test["segment"].isin(["Womens E-Mail", "No E-Mail"])]
    uplift = predict_onnx(session_for(ours.onnx_bytes), rows.assign(segment="Womens E-Mail"), SPEC)
    treated = (rows["segment"] == "Womens E-Mail").astype(int)
    qini = qini_auc_score(rows["visit"], uplift[output_names("visit")[2]], treated)
    assert qini >= 0.072, (qini, ours.recipe)
    assert np.isfinite(qini)
