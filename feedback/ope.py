"""Off-policy evaluation: what a target policy would have earned on logged decisions.

Pure NumPy over one row per logged decision; the server's evaluation handler and the policy
benchmark both feed it. With the logged action a_i chosen with propensity μ_i = μ(a_i | x_i),
the target policy's probability π_i = π(a_i | x_i) of that action, the importance weight
w_i = π_i / μ_i and the observed reward r_i:

- IPS (inverse propensity scoring; Horvitz & Thompson 1952): V = (1/n) Σ w_i r_i. Unbiased
  when μ_i > 0 wherever π puts mass; its variance grows with the weights.
- SNIPS (self-normalized IPS; Swaminathan & Joachims 2015): V = Σ w_i r_i / Σ w_i. Slightly
  biased, usually much less variable; invariant to adding a constant to every reward.
- DM (direct method): V = (1/n) Σ_i Σ_a π(a | x_i) q̂(x_i, a) with a reward model q̂. No
  weights, so low variance, but as biased as q̂.
- DR (doubly robust; Dudík, Langford & Li 2011): V = (1/n) Σ_i [Σ_a π(a | x_i) q̂(x_i, a)
  + w_i (r_i - q̂(x_i, a_i))]. Unbiased when either μ or q̂ is right.

Every estimate is a ratio Σ num_i / Σ den_i (den_i = 1 except for SNIPS), so one analytic
normal interval serves all four: the delta-method standard error
sqrt(Σ (num_i - V den_i)² / (n (n - 1))) / mean(den), which for den_i = 1 is the usual
sd / sqrt(n) of the per-row terms. A seeded nonparametric bootstrap (multinomial row counts,
percentile interval) is available too. The effective sample size is Kish's
(Σ w_i)² / Σ w_i²; the direct method uses no weights, so its ESS is n.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from common.errors import InvalidArgument

ESTIMATORS = ("ips", "snips", "dm", "dr")
# Tolerance on a target distribution's sum (policies compute in float64).
SUM_TOLERANCE = 1e-6
BOOTSTRAP_CHUNK = 64


@dataclass(frozen=True)
class LoggedBandit:
    """Logged decisions with the target policy's view of them, checked when built.

    Parameters
    ----------
    reward : (n,) observed reward of the logged action.
    pscore : (n,) logged propensity μ(a_i | x_i) of the logged action, in (0, 1]; None or
        NaN means missing and is refused.
    target_prob : (n,) π(a_i | x_i); may be omitted when `target_dist` and `action` are given.
    ids : names of the rows (decision ids) for error messages; default "row i".
    target_dist : (n, A) the target policy's full distribution per row, rows summing to 1.
        Rows with fewer actions are padded with zeros.
    reward_hat : (n, A) the reward model's prediction for every action (DM, DR).
    action : (n,) column of the logged action in `target_dist` and `reward_hat`.
    """

    reward: np.ndarray
    pscore: np.ndarray
    target_prob: np.ndarray | None = None
    ids: Sequence[str] | None = None
    target_dist: np.ndarray | None = None
    reward_hat: np.ndarray | None = None
    action: np.ndarray | None = None
    weights: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        reward = _vector(self.reward, "reward")
        n = len(reward)
        if n == 0:
            raise InvalidArgument("no logged decisions to evaluate")
        if self.ids is not None and len(self.ids) != n:
            raise InvalidArgument(f"ids has {len(self.ids)} entries for {n} rows")
        pscore = check_pscore(self.pscore, self.ids, n)
        _check_finite(reward, "reward", self)
        target_prob = self._target_prob(n)
        object.__setattr__(self, "reward", reward)
        object.__setattr__(self, "pscore", pscore)
        object.__setattr__(self, "target_prob", target_prob)
        object.__setattr__(self, "weights", target_prob / pscore)

    def name(self, i: int) -> str:
        return f"decision {self.ids[i]!r}" if self.ids is not None else f"row {i}"

    def _target_prob(self, n: int) -> np.ndarray:
        if self.target_dist is not None:
            self._check_model_inputs(n)
        from_dist = None
        if self.target_dist is not None and self.action is not None:
            from_dist = np.asarray(self.target_dist)[np.arange(n), np.asarray(self.action)]
        if self.target_prob is None:
            if from_dist is None:
                raise InvalidArgument("target_prob is needed unless target_dist and action are")
            return from_dist
        prob = _vector(self.target_prob, "target_prob", n)
        bad = ~((prob >= 0) & (prob <= 1))
        if from_dist is not None:
            bad |= np.abs(prob - from_dist) > SUM_TOLERANCE
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidArgument(
                f"target probability of {self.name(i)} must be in [0, 1] and agree with "
                f"target_dist, got {float(prob[i])!r}"
            )
        return prob

    def _check_model_inputs(self, n: int) -> None:
        dist = np.asarray(self.target_dist, dtype=np.float64)
        if dist.ndim != 2 or dist.shape[0] != n:
            raise InvalidArgument(f"target_dist must have shape (n={n}, actions), got {dist.shape}")
        bad_rows = ~np.all((dist >= 0) & (dist <= 1), axis=1)
        bad_rows |= np.abs(dist.sum(axis=1) - 1.0) > SUM_TOLERANCE
        if bad_rows.any():
            i = int(np.argmax(bad_rows))
            raise InvalidArgument(
                f"target distribution of {self.name(i)} must be probabilities summing to 1, "
                f"got {dist[i].tolist()}"
            )
        object.__setattr__(self, "target_dist", dist)
        if self.action is not None:
            action = np.asarray(self.action)
            if action.shape != (n,) or not np.issubdtype(action.dtype, np.integer):
                raise InvalidArgument(f"action must be {n} integer column indices")
            out = (action < 0) | (action >= dist.shape[1])
            if out.any():
                i = int(np.argmax(out))
                raise InvalidArgument(
                    f"logged action of {self.name(i)} is column {action[i]}, "
                    f"outside 0..{dist.shape[1] - 1}"
                )
        if self.reward_hat is not None:
            hat = np.asarray(self.reward_hat, dtype=np.float64)
            if hat.shape != dist.shape:
                raise InvalidArgument(
                    f"reward_hat must have target_dist's shape {dist.shape}, got {hat.shape}"
                )
            rows = ~np.isfinite(hat).all(axis=1)
            if rows.any():
                i = int(np.argmax(rows))
                raise InvalidArgument(f"predicted rewards of {self.name(i)} must be finite")
            object.__setattr__(self, "reward_hat", hat)

    @property
    def n(self) -> int:
        return len(self.reward)

    @property
    def has_reward_model(self) -> bool:
        return (
            self.target_dist is not None and self.reward_hat is not None and self.action is not None
        )


def check_pscore(
    pscore: object, ids: Sequence[str] | None = None, n: int | None = None
) -> np.ndarray:
    """The logged propensities as floats; InvalidArgument naming the first row (by id when
    given) whose propensity is missing (None, NaN), zero, negative or above 1."""
    arr = _vector(pscore, "pscore", n)
    bad = ~((arr > 0) & (arr <= 1))  # NaN fails both comparisons
    if bad.any():
        i = int(np.argmax(bad))
        name = f"decision {ids[i]!r}" if ids is not None else f"row {i}"
        what = "is missing" if np.isnan(arr[i]) else f"must be in (0, 1], got {float(arr[i])!r}"
        raise InvalidArgument(f"logged propensity of {name} {what}")
    return arr


@dataclass(frozen=True, slots=True)
class Estimate:
    estimator: str  # ips, snips, dm, dr
    value: float
    std_error: float
    ci_low: float
    ci_high: float
    ess: float  # Kish effective sample size of the weights it uses
    n: int
    method: str  # "normal" or "bootstrap": how the interval was computed


def _vector(values: object, name: str, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name} must be numbers: {exc}") from exc
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise InvalidArgument(f"{name} must be a vector of {n or 'n'} values, got {arr.shape}")
    return arr


def _check_finite(values: np.ndarray, name: str, data: LoggedBandit) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidArgument(f"{name} of {data.name(i)} must be finite, got {float(values[i])!r}")


def kish_ess(weights: np.ndarray) -> float:
    """(Σ w)² / Σ w²: how many equally weighted rows the weighted sample is worth."""
    squares = float(np.sum(weights**2))
    return float(np.sum(weights)) ** 2 / squares if squares > 0 else 0.0


def terms(data: LoggedBandit, estimator: str) -> tuple[np.ndarray, np.ndarray]:
    """(num_i, den_i) with the estimate Σ num / Σ den (see the module docstring)."""
    w, r = data.weights, data.reward
    ones = np.ones(data.n)
    if estimator == "ips":
        return w * r, ones
    if estimator == "snips":
        return w * r, w
    if estimator not in ("dm", "dr"):
        raise InvalidArgument(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if not data.has_reward_model:
        raise InvalidArgument(f"{estimator} needs target_dist, reward_hat and action")
    assert data.target_dist is not None and data.reward_hat is not None
    direct = np.sum(data.target_dist * data.reward_hat, axis=1)
    if estimator == "dm":
        return direct, ones
    logged_hat = data.reward_hat[np.arange(data.n), np.asarray(data.action)]
    return direct + w * (r - logged_hat), ones


def _ratio_se(num: np.ndarray, den: np.ndarray, value: float) -> float:
    n = len(num)
    if n < 2 or not np.isfinite(value):
        return float("nan")
    residual = num - value * den
    return float(np.sqrt(np.sum(residual**2) / (n * (n - 1))) / np.mean(den))


def _bootstrap(
    num: np.ndarray, den: np.ndarray, samples: int, rng: np.random.Generator
) -> np.ndarray:
    """Estimates on `samples` resamples of the rows (drawn as multinomial row counts)."""
    n = len(num)
    out = []
    for start in range(0, samples, BOOTSTRAP_CHUNK):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(BOOTSTRAP_CHUNK, samples - start))
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((counts @ num) / (counts @ den))
    return np.concatenate(out)


def estimate(
    data: LoggedBandit,
    estimator: str,
    *,
    confidence: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> Estimate:
    """One estimator's value with a normal (delta-method) interval, or a percentile bootstrap
    interval over `bootstrap` seeded resamples when bootstrap > 0."""
    if not 0.0 < confidence < 1.0:
        raise InvalidArgument(f"confidence must be in (0, 1), got {confidence!r}")
    if bootstrap < 0:
        raise InvalidArgument(f"bootstrap must be >= 0 resamples, got {bootstrap}")
    num, den = terms(data, estimator)
    total = float(np.sum(den))
    value = float(np.sum(num)) / total if total > 0 else float("nan")
    se = _ratio_se(num, den, value)
    ess = float(data.n) if estimator == "dm" else kish_ess(data.weights)
    if bootstrap:
        draws = _bootstrap(num, den, bootstrap, np.random.default_rng(seed))
        draws = draws[np.isfinite(draws)]
        tail = (1.0 - confidence) / 2 * 100
        low, high = np.percentile(draws, [tail, 100 - tail]) if len(draws) else (np.nan, np.nan)
        return Estimate(estimator, value, se, float(low), float(high), ess, data.n, "bootstrap")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return Estimate(estimator, value, se, value - z * se, value + z * se, ess, data.n, "normal")


def evaluate(
    data: LoggedBandit, *, confidence: float = 0.95, bootstrap: int = 0, seed: int = 0
) -> list[Estimate]:
    """IPS and SNIPS always; DM and DR too when the data carry a reward model."""
    names = ESTIMATORS if data.has_reward_model else ("ips", "snips")
    return [estimate(data, e, confidence=confidence, bootstrap=bootstrap, seed=seed) for e in names]
