"""Choosing a recipe (family x learner) by the value of the decisions it implies.

Every candidate is cross-fitted on the training rows (K folds: each row scored by a model that
never saw it), its greedy policy (the campaign of largest predicted uplift of the objective, or
no campaign when none is positive) is evaluated on the logged rows by the doubly robust
estimator

    V(pi) = (1/n) sum_i [ q(x_i, pi_i) + 1[a_i = pi_i] (y_i - q(x_i, a_i)) / e_i ]

(Dudík, Langford and Li, "Doubly Robust Policy Evaluation and Learning", ICML 2011) with one
common reward model q for every candidate (the cross-fitted per-arm response model of the
family whose response predicts best) and the logged propensities e. Candidates whose response
model is clearly worse (log loss or AUC, the guards) are left out; the largest value wins. The
same estimator values "everyone gets arm a", so the table shows the best single arm beside.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

from common.errors import CampaignLiftError
from trainer.learners import DR_LEARNER, PER_ARM, S_LEARNER, fit_learner
from trainer.learners.base import ArmScores, EffectData
from trainer.learners.per_arm import fit_outcomes
from trainer.revenue import fit_revenue

log = logging.getLogger(__name__)

FOLDS = 5
# progress(what, done, total): a long fit reports as it goes (the CLI draws a bar).
Progress = Callable[[str, int, int], None]
DEFAULT_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("logreg", S_LEARNER),
    ("logreg", "t-learner"),
    ("logreg", DR_LEARNER),
    ("hgb", S_LEARNER),
    ("hgb", "t-learner"),
    ("hgb", DR_LEARNER),
)
# A candidate's response model may be this much worse than the best one's and still compete.
LOG_LOSS_GUARD = 1.05
AUC_GUARD = 0.03
Z_95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Objective:
    """What decisions are judged by: a binary target, or a revenue column (the reward is the
    amount; the target is its hurdle, e.g. a purchase)."""

    target: str
    revenue: str | None = None

    @property
    def name(self) -> str:
        return self.revenue or self.target

    def reward(self, data: EffectData) -> np.ndarray:
        if self.revenue is None:
            return data.y(self.target)
        return data.frame[self.revenue].to_numpy(float)


@dataclass(frozen=True)
class Candidate:
    family: str
    learner: str
    value: float  # DR value of the greedy policy, per decision
    ci: tuple[float, float]
    gain_over_best_single: float  # value - best single arm's value (paired)
    gain_ci: tuple[float, float]
    log_loss: float
    auc: float
    share_targeted: float  # of rows given a campaign
    seconds: float
    eligible: bool = True
    error: str = ""
    # An ensemble's (family, learner) members, averaged with equal weights.
    members: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def name(self) -> str:
        if self.members:
            return " + ".join(f"{f} {lr}" for f, lr in self.members)
        return f"{self.family} {self.learner}"


@dataclass(frozen=True)
class Selection:
    objective: str
    chosen: Candidate
    candidates: list[Candidate]
    single_arms: dict[str, float]  # DR value of everyone getting each arm
    best_single: str
    rows: int
    folds: int

    def as_dict(self) -> dict[str, object]:
        return {
            "objective": self.objective,
            "chosen": {
                "family": self.chosen.family,
                "learner": self.chosen.learner,
                "members": [list(m) for m in self.chosen.members],
            },
            "candidates": [c.as_dict() for c in self.candidates],
            "single_arms": self.single_arms,
            "best_single": self.best_single,
            "rows": self.rows,
            "folds": self.folds,
        }


def _dr_terms(data: EffectData, goal: Objective, q: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Per row, the doubly robust term of a deterministic policy choosing `actions`."""
    y, e, logged = goal.reward(data), data.propensity, data.arms.index
    rows = np.arange(len(y))
    return q[rows, actions] + (logged == actions) * (y - q[rows, logged]) / e


def _interval(terms: np.ndarray) -> tuple[float, tuple[float, float]]:
    mean = float(terms.mean())
    half = Z_95 * float(terms.std(ddof=1)) / np.sqrt(len(terms))
    return mean, (mean - half, mean + half)


@dataclass
class _OutOfFold:
    """A candidate's predictions for every row from the fold models that never saw it: the
    target's probability with every arm, and the objective's value with every arm and its
    uplift against the control (the probability's and uplift's, or revenue's)."""

    probability: np.ndarray  # [n, K]
    value: np.ndarray  # [n, K]
    uplift: np.ndarray  # [n, K]

    def scores(self) -> ArmScores:
        return ArmScores(self.value, self.uplift)


def _cross_fit(
    data: EffectData, goal: Objective, family: str, learner: str, fold: np.ndarray, seed: int
) -> _OutOfFold:
    n, k = len(data.frame), data.arms.k
    p, v, u = np.empty((n, k)), np.empty((n, k)), np.empty((n, k))
    target = goal.target
    for f in range(FOLDS):
        train = data.rows(fold != f)
        mu = _inner_mu(data, target, family, fold, f, seed) if learner == DR_LEARNER else None
        fitted = fit_learner(learner, train, target, family, seed, mu=mu)
        held = data.frame[fold == f]
        scores = fitted.arm_scores(held, data.arms)
        p[fold == f], v[fold == f], u[fold == f] = (
            scores.probability,
            scores.probability,
            scores.uplift,
        )
        if goal.revenue is not None:
            amounts = fit_revenue(train, goal.revenue, family, seed, per_arm=learner in PER_ARM)
            value = scores.probability * amounts.amounts(held, data.arms)
            v[fold == f] = value
            u[fold == f] = value - value[:, [data.arms.control]]
    return _OutOfFold(p, v, u)


def _inner_mu(
    data: EffectData, target: str, family: str, fold: np.ndarray, held: int, seed: int
) -> np.ndarray:
    """The DR-learner's cross-fitted mu on the rows outside fold `held`, by two-fold
    cross-fitting among them: the other folds split into two halves, each half scored by the
    models of the other, so no model saw the row it scores (nor fold `held`)."""
    rest = np.flatnonzero(fold != held)
    others = [g for g in range(FOLDS) if g != held]
    half = np.isin(fold[rest], others[: len(others) // 2])
    mu = np.empty((len(rest), data.arms.k))
    for scored in (half, ~half):
        models = fit_outcomes(data.rows(rest[~scored]), target, family, seed)
        users = data.users.iloc[rest[scored]]
        for a, model in enumerate(models):
            mu[scored, a] = model.predict_proba(users)[:, 1]
    return mu


def _response_quality(data: EffectData, target: str, oof: _OutOfFold) -> tuple[float, float]:
    """Log loss and AUC of the out-of-fold probability of each row's logged arm."""
    y = data.y(target)
    p = np.clip(oof.probability[np.arange(len(y)), data.arms.index], 1e-7, 1 - 1e-7)
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return float(log_loss(y, p, labels=[0, 1])), auc


def select(
    data: EffectData,
    goal: Objective,
    candidates: Sequence[tuple[str, str]] = DEFAULT_CANDIDATES,
    seed: int = 0,
    progress: Progress | None = None,
) -> Selection:
    """Cross-fits every candidate and returns them with the chosen one (see module doc);
    `progress(what, done, total)` hears of each candidate as it is cross-fitted."""
    target = goal.target
    fold = np.random.default_rng(seed).integers(0, FOLDS, len(data.frame))
    fitted: dict[tuple[str, str], _OutOfFold] = {}
    rows: list[Candidate] = []
    for done, (family, learner) in enumerate(candidates):
        if progress is not None:
            progress(f"cross-fitting {family} {learner}", done, len(candidates))
        began = time.perf_counter()
        try:
            fitted[(family, learner)] = _cross_fit(data, goal, family, learner, fold, seed)
        except CampaignLiftError as exc:  # e.g. an arm too small for a model of its own
            rows.append(_failed(family, learner, exc.message, time.perf_counter() - began))
            continue
        rows.append(_placeholder(family, learner, time.perf_counter() - began))
    if not fitted:
        raise CampaignLiftError("no candidate recipe could be fitted: " + rows[0].error)
    quality = {key: _response_quality(data, target, oof) for key, oof in fitted.items()}
    q = _reward_model(fitted, quality)
    singles = {
        data.arms.names[a]: _dr_terms(data, goal, q, np.full(len(data.frame), a))
        for a in range(data.arms.k)
    }
    best_single = max(singles, key=lambda name: float(singles[name].mean()))
    scored = [_score(r, fitted, quality, data, goal, q, singles[best_single]) for r in rows]
    scored = _guard(scored)
    scored += _ensembles(scored, fitted, quality, data, goal, q, singles[best_single])
    chosen = _choose(scored, fitted, data, goal, q)
    log.info(
        "selected %s %s: DR value %.5f (best single %s %.5f)",
        chosen.family,
        chosen.learner,
        chosen.value,
        best_single,
        float(singles[best_single].mean()),
    )
    return Selection(
        objective=goal.name,
        chosen=chosen,
        candidates=scored,
        single_arms={name: float(t.mean()) for name, t in singles.items()},
        best_single=best_single,
        rows=len(data.frame),
        folds=FOLDS,
    )


def _reward_model(
    fitted: dict[tuple[str, str], _OutOfFold], quality: dict[tuple[str, str], tuple[float, float]]
) -> np.ndarray:
    """q(x, a) for the DR estimator: the out-of-fold values of the per-arm (or, lacking one,
    any) candidate whose response has the lowest log loss; shared by every candidate."""
    per_arm = [key for key in fitted if key[1] in PER_ARM] or list(fitted)
    best = min(per_arm, key=lambda key: quality[key][0])
    return fitted[best].value


def _failed(family: str, learner: str, error: str, seconds: float) -> Candidate:
    nan = float("nan")
    return Candidate(
        family, learner, nan, (nan, nan), nan, (nan, nan), nan, nan, nan, seconds, False, error
    )


def _placeholder(family: str, learner: str, seconds: float) -> Candidate:
    return _failed(family, learner, "", seconds)


def _score(
    row: Candidate,
    fitted: dict[tuple[str, str], _OutOfFold],
    quality: dict[tuple[str, str], tuple[float, float]],
    data: EffectData,
    goal: Objective,
    q: np.ndarray,
    best_single: np.ndarray,
) -> Candidate:
    key = (row.family, row.learner)
    if key not in fitted:
        return row
    actions = fitted[key].scores().greedy(data.arms.control)
    terms = _dr_terms(data, goal, q, actions)
    value, ci = _interval(terms)
    gain, gain_ci = _interval(terms - best_single)
    loss, auc = quality[key]
    return Candidate(
        row.family,
        row.learner,
        value,
        ci,
        gain,
        gain_ci,
        loss,
        auc,
        float(np.mean(actions != data.arms.control)),
        row.seconds,
    )


def _choose(
    rows: list[Candidate],
    fitted: dict[tuple[str, str], _OutOfFold],
    data: EffectData,
    goal: Objective,
    q: np.ndarray,
) -> Candidate:
    """The candidate of largest value — or, among those within one standard error of it
    (paired differences on the same rows), the largest ensemble: when the estimates cannot
    tell them apart, averaging is the choice that errs least (the one-standard-error rule of
    Breiman, Friedman, Olshen and Stone, 1984, with "simplest" read as "least variable")."""
    eligible = [r for r in rows if r.eligible]
    best = max(eligible, key=lambda c: c.value)

    def terms(c: Candidate) -> np.ndarray:
        key = ("ensemble", f"top{len(c.members)}") if c.members else (c.family, c.learner)
        return _dr_terms(data, goal, q, fitted[key].scores().greedy(data.arms.control))

    top = terms(best)
    close = []
    for c in eligible:
        if not c.members or c is best:
            continue
        diff = top - terms(c)
        if diff.mean() <= float(diff.std(ddof=1)) / np.sqrt(len(diff)):
            close.append(c)
    return max(close, key=lambda c: (len(c.members), c.value)) if close else best


ENSEMBLE_SIZES = (2, 3)


def _ensembles(
    rows: list[Candidate],
    fitted: dict[tuple[str, str], _OutOfFold],
    quality: dict[tuple[str, str], tuple[float, float]],
    data: EffectData,
    goal: Objective,
    q: np.ndarray,
    best_single: np.ndarray,
) -> list[Candidate]:
    """The equal-weight averages of the best 2 and 3 eligible candidates: their out-of-fold
    predictions are the averages of the members' (no new fits), valued like any candidate."""
    ranked = sorted((r for r in rows if r.eligible), key=lambda r: -r.value)
    out = []
    for size in ENSEMBLE_SIZES:
        if len(ranked) < size:
            break
        members = tuple((r.family, r.learner) for r in ranked[:size])
        oofs = [fitted[m] for m in members]
        mixed = _OutOfFold(
            np.mean([o.probability for o in oofs], axis=0),
            np.mean([o.value for o in oofs], axis=0),
            np.mean([o.uplift for o in oofs], axis=0),
        )
        key = ("ensemble", f"top{size}")
        fitted[key], quality[key] = mixed, _response_quality(data, goal.target, mixed)
        seconds = sum(r.seconds for r in ranked[:size])
        scored = _score(_placeholder(*key, seconds), fitted, quality, data, goal, q, best_single)
        out.append(replace(scored, learner="ensemble", members=members))
    return out


def _guard(rows: list[Candidate]) -> list[Candidate]:
    """Leaves out candidates whose response model is clearly worse than the best one's."""
    fitted = [r for r in rows if not r.error]
    best_loss = min(r.log_loss for r in fitted)
    aucs = [r.auc for r in fitted if np.isfinite(r.auc)]
    best_auc = max(aucs) if aucs else float("nan")
    out = []
    for r in rows:
        if r.error:
            out.append(r)
            continue
        reasons = []
        if r.log_loss > LOG_LOSS_GUARD * best_loss:
            reasons.append(f"log loss {r.log_loss:.5f} > {LOG_LOSS_GUARD} x best {best_loss:.5f}")
        if np.isfinite(best_auc) and r.auc < best_auc - AUC_GUARD:
            reasons.append(f"AUC {r.auc:.4f} < best {best_auc:.4f} - {AUC_GUARD}")
        if reasons:
            r = Candidate(**{**asdict(r), "eligible": False, "error": "; ".join(reasons)})
        out.append(r)
    if not any(r.eligible for r in out):  # the guards never leave nothing to choose
        return [Candidate(**{**asdict(r), "eligible": not r.error}) for r in rows]
    return out
