"""Our response and uplift models beside peers on the Hillstrom e-mail test (`make bench-models`).

Response: held-out AUC of our pipelines (hgb, logreg) and of LightGBM with its defaults, on the
same training rows and the same features, per target. Uplift: the Qini coefficient
(trainer.uplift_metrics) per campaign against "No E-Mail", of our S-learner and transformed
outcome and of scikit-uplift's T-learner (TwoModels, "vanilla") built from the same base
learner (our hgb or logreg pipeline on the user features), first on the one held-out 25%, then
cross-fitted over all rows of the two arms (4 folds, identical for every model). scikit-uplift's
own normalized qini_auc_score is printed beside ours for the holdout. A peer that is not
installed is named and skipped: `pip install -e '.[dev,bench]'` installs both.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from trainer.crossfit import FOLDS, cross_fitted_qini, cross_fitted_uplift
from trainer.data import clean
from trainer.pipeline import build_pipeline
from trainer.report import predicted_uplifts
from trainer.spec import FeatureSpec
from trainer.train import TrainedModel, train
from trainer.uplift_metrics import qini_coefficient

ROOT = Path(__file__).resolve().parent.parent

CAMPAIGNS = ("Womens E-Mail", "Mens E-Mail")
CONTROL = "No E-Mail"


def optional(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        print(f"peer not installed: {module} (pip install -e '.[dev,bench]'); its column is n/a")
        return None


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def lightgbm_auc(lgb: Any, model: TrainedModel, spec: FeatureSpec, target: str) -> float | None:
    if lgb is None:
        return None

    def frame(rows: pd.DataFrame) -> pd.DataFrame:
        x = rows[list(spec.features)].copy()
        for col, kind in spec.features.items():
            if kind == "categorical":
                x[col] = x[col].astype("category")
        return x

    peer = lgb.LGBMClassifier(random_state=0, n_jobs=1, verbose=-1)
    peer.fit(frame(model.training), model.training[target])
    return float(
        roc_auc_score(model.holdout[target], peer.predict_proba(frame(model.holdout))[:, 1])
    )


def two_models(sklift: Any, user: FeatureSpec, family: str) -> Any:
    return sklift.models.TwoModels(
        estimator_trmnt=build_pipeline(user, family),
        estimator_ctrl=build_pipeline(user, family),
        method="vanilla",
    )


def arm_rows(frame: pd.DataFrame, campaign: str) -> np.ndarray:
    return frame["segment"].isin([campaign, CONTROL]).to_numpy()


def arm_outcomes(
    frame: pd.DataFrame, campaign: str, target: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the campaign's arm and control: (row mask, target values, treated flags)."""
    sel = arm_rows(frame, campaign)
    return sel, frame[target].to_numpy()[sel], (frame["segment"] == campaign).to_numpy()[sel]


def load_peers() -> tuple[Any, Any]:
    """LightGBM and scikit-uplift, each None when not installed."""
    lgb = optional("lightgbm")
    sklift = optional("sklift")
    if sklift is not None:
        # scikit-uplift 0.5.1 calls a scikit-learn helper deprecated in 1.8: noise, not ours.
        warnings.filterwarnings("ignore", message="Function stable_cumsum is deprecated")
        import sklift.metrics  # type: ignore[no-redef]
        import sklift.models  # type: ignore[no-redef]
    return lgb, sklift


def train_ours(raw: pd.DataFrame, spec: FeatureSpec) -> dict[str, TrainedModel]:
    return {
        "S-learner hgb": train(raw, spec, family="hgb"),
        "S-learner logreg": train(raw, spec, family="logreg"),
        "transformed outcome hgb": train(
            raw, spec, family="hgb", uplift_method="transformed-outcome"
        ),
    }


def print_response(
    ours: dict[str, TrainedModel], split: TrainedModel, spec: FeatureSpec, lgb: Any
) -> None:
    print(f"\n## Response: held-out AUC ({len(split.holdout)} rows, same split for all)\n")
    rows = []
    for target in spec.targets:
        rows.append(
            [
                target,
                fmt(ours["S-learner hgb"].metrics[target]["auc"]),
                fmt(ours["S-learner logreg"].metrics[target]["auc"]),
                fmt(lightgbm_auc(lgb, split, spec, target)),
            ]
        )
    print(table(["target", "ours hgb", "ours logreg", "LightGBM 4.7 (defaults)"], rows))


def sklift_holdout_cells(
    sklift: Any,
    split: TrainedModel,
    user: FeatureSpec,
    campaign: str,
    target: str,
    ours_score: np.ndarray,
) -> list[str]:
    """scikit-uplift's T-learner Qini, then sklift's qini_auc_score of ours and of the peer."""
    holdout = split.holdout
    sel, y, treated = arm_outcomes(holdout, campaign, target)
    fit = split.training[arm_rows(split.training, campaign)]
    peer = two_models(sklift, user, "hgb").fit(
        fit[list(user.features)], fit[target], (fit["segment"] == campaign).astype(int)
    )
    peer_score = peer.predict(holdout[sel][list(user.features)])
    peer_qini = qini_coefficient(y, treated, peer_score)
    ours_norm = sklift.metrics.qini_auc_score(y, ours_score, treated.astype(int))
    peer_norm = sklift.metrics.qini_auc_score(y, peer_score, treated.astype(int))
    return [fmt(peer_qini), fmt(ours_norm), fmt(peer_norm)]


def print_holdout_uplift(
    ours: dict[str, TrainedModel],
    split: TrainedModel,
    spec: FeatureSpec,
    user: FeatureSpec,
    sklift: Any,
) -> None:
    print("\n## Uplift: Qini coefficient on the held-out rows (> 0 beats random targeting)\n")
    holdout = split.holdout
    arms = {c: {"segment": c} for c in (*CAMPAIGNS, CONTROL)}
    scores = {
        name: predicted_uplifts(m.onnx_bytes, holdout, spec, arms) for name, m in ours.items()
    }
    rows = []
    for target in spec.targets:
        for campaign in CAMPAIGNS:
            sel, y, treated = arm_outcomes(holdout, campaign, target)
            row = [target, campaign]
            for name in ours:
                row.append(fmt(qini_coefficient(y, treated, scores[name][campaign][target][sel])))
            if sklift is not None:
                ours_score = scores["S-learner hgb"][campaign][target][sel]
                row += sklift_holdout_cells(sklift, split, user, campaign, target, ours_score)
            else:
                row += ["n/a", "n/a", "n/a"]
            rows.append(row)
    header = [
        "target",
        "campaign",
        *ours,
        "scikit-uplift T-learner hgb",
        "sklift qini_auc: ours hgb",
        "sklift qini_auc: T-learner hgb",
    ]
    print(table(header, rows))


def sklift_crossfit_qini(
    sklift: Any,
    user: FeatureSpec,
    family: str,
    data: pd.DataFrame,
    fold: np.ndarray,
    campaign: str,
    target: str,
) -> float:
    """scikit-uplift's T-learner Qini, each fold scored by the model fitted on the others."""
    score = np.zeros(len(data))
    for k in range(FOLDS):
        fit = data[(fold != k) & arm_rows(data, campaign)]
        peer = two_models(sklift, user, family).fit(
            fit[list(user.features)],
            fit[target],
            (fit["segment"] == campaign).astype(int),
        )
        score[fold == k] = peer.predict(data[fold == k][list(user.features)])
    sel, y, treated = arm_outcomes(data, campaign, target)
    return qini_coefficient(y, treated, score[sel])


def print_crossfit_uplift(
    raw: pd.DataFrame, spec: FeatureSpec, user: FeatureSpec, sklift: Any
) -> None:
    print(f"\n## Uplift: Qini cross-fitted over all rows of the two arms ({FOLDS} folds)\n")
    fitted = {
        "S-learner hgb": cross_fitted_uplift(raw, spec, family="hgb"),
        "S-learner logreg": cross_fitted_uplift(raw, spec, family="logreg"),
        "transformed outcome hgb": cross_fitted_uplift(
            raw, spec, family="hgb", uplift_method="transformed-outcome"
        ),
    }
    data, _ = clean(raw, spec)
    fold = np.random.default_rng(0).integers(0, FOLDS, len(data))  # as cross_fitted_uplift
    rows = []
    for target in spec.targets:
        for campaign in CAMPAIGNS:
            row = [target, campaign]
            for d, u, control in fitted.values():
                row.append(fmt(cross_fitted_qini(d, u, spec, control, campaign, target)))
            for family in ("hgb", "logreg"):
                if sklift is None:
                    row.append("n/a")
                    continue
                row.append(
                    fmt(sklift_crossfit_qini(sklift, user, family, data, fold, campaign, target))
                )
            rows.append(row)
    header = [
        "target",
        "campaign",
        *fitted,
        "scikit-uplift T-learner hgb",
        "scikit-uplift T-learner logreg",
    ]
    print(table(header, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/hillstrom/hillstrom.csv"))
    parser.add_argument("--no-crossfit", action="store_true", help="holdout numbers only")
    args = parser.parse_args()
    started = time.perf_counter()
    lgb, sklift = load_peers()
    raw = pd.read_csv(args.data)
    spec = dataclasses.replace(FeatureSpec.load(ROOT / "specs" / "hillstrom.toml"), revenue={})
    user = dataclasses.replace(spec, campaign_features={}, control={})
    ours = train_ours(raw, spec)
    split = ours["S-learner hgb"]  # every model here uses the same seed, hence the same split
    print_response(ours, split, spec, lgb)
    print_holdout_uplift(ours, split, spec, user, sklift)
    if not args.no_crossfit:
        print_crossfit_uplift(raw, spec, user, sklift)
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
