"""Uplift and policy metrics on randomized held-out data: Qini curve and coefficient, AUUC,
uplift@k, and the inverse-propensity-score (IPS) value of a targeting policy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z_95 = 1.959963984540054


def _sorted_groups(
    y: np.ndarray, treated: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (n, n_t, n_c, y_t, y_c) at the end of each group of tied scores, best first."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(treated, dtype=bool)
    s = np.asarray(score, dtype=float)
    if not (len(y) == len(t) == len(s)):
        raise ValueError(f"y, treated and score differ in length: {len(y)}, {len(t)}, {len(s)}")
    order = np.argsort(-s, kind="stable")
    y, t, s = y[order], t[order], s[order]
    n_t = np.cumsum(t)
    n_c = np.cumsum(~t)
    y_t = np.cumsum(y * t)
    y_c = np.cumsum(y * ~t)
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1] if len(s) else np.array([], int)
    return ends + 1, n_t[ends], n_c[ends], y_t[ends], y_c[ends]


def qini_curve(
    y: np.ndarray, treated: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve, in fractions: x = share of rows targeted (best score first, ties together),
    q(x) = (Y_t(x) - Y_c(x) N_t(x) / N_c(x)) / N_t, starting at (0, 0).

    Radcliffe, "Using control groups to target on predicted lift", Direct Marketing Analytics
    Journal, 2007. Dividing by all treated rows N_t makes q(1) the average effect
    (treated rate minus control rate); before any control row is reached, q uses Y_c = 0.
    """
    n, n_t, n_c, y_t, y_c = _sorted_groups(y, treated, score)
    total_t = max(float(np.sum(np.asarray(treated, dtype=bool))), 1.0)
    scaled_c = np.divide(y_c * n_t, n_c, out=np.zeros(len(n), dtype=float), where=n_c > 0)
    q = (y_t - scaled_c) / total_t
    return np.r_[0.0, n / max(len(np.asarray(y)), 1)], np.r_[0.0, q]


def uplift_curve(
    y: np.ndarray, treated: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gain curve: g(x) = (Y_t(x)/N_t(x) - Y_c(x)/N_c(x)) * x, the incremental outcome
    per row of the population when the top share x is targeted; an arm not yet reached counts
    as rate 0. g(1) is the average effect, like q(1)."""
    n, n_t, n_c, y_t, y_c = _sorted_groups(y, treated, score)
    rate_t = np.divide(y_t, n_t, out=np.zeros(len(n), dtype=float), where=n_t > 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros(len(n), dtype=float), where=n_c > 0)
    x = n / max(len(np.asarray(y)), 1)
    return np.r_[0.0, x], np.r_[0.0, (rate_t - rate_c) * x]


def _area_above_random(x: np.ndarray, v: np.ndarray) -> float:
    """Trapezoid area of v over x minus that of the straight line from (0, 0) to (1, v(1))."""
    return float(np.trapezoid(v, x) - v[-1] / 2.0)


def qini_coefficient(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting diagonal; > 0 beats random."""
    return _area_above_random(*qini_curve(y, treated, score))


def auuc(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> float:
    """Area under the uplift (cumulative gain) curve; random targeting scores g(1) / 2."""
    x, g = uplift_curve(y, treated, score)
    return float(np.trapezoid(g, x))


def uplift_at_k(y: np.ndarray, treated: np.ndarray, score: np.ndarray, k: float) -> float | None:
    """Treated rate minus control rate among the top ceil(k N) rows by score (scikit-uplift's
    "overall" strategy); None when that top share holds no treated or no control row."""
    if not 0 < k <= 1:
        raise ValueError(f"k must be in (0, 1], got {k}")
    y = np.asarray(y, dtype=float)
    t = np.asarray(treated, dtype=bool)
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[: int(np.ceil(k * len(y)))]
    yt, tt = y[top], t[top]
    if not tt.any() or tt.all():
        return None
    return float(yt[tt].mean() - yt[~tt].mean())


@dataclass(frozen=True)
class PolicyValue:
    """An off-policy estimate with its normal-approximation 95% interval."""

    value: float
    std_error: float
    n: int

    @property
    def interval(self) -> tuple[float, float]:
        return self.value - Z_95 * self.std_error, self.value + Z_95 * self.std_error

    def as_dict(self) -> dict[str, float]:
        low, high = self.interval
        return {"value": self.value, "std_error": self.std_error, "low": low, "high": high}


def ips_value(
    reward: np.ndarray, logged: np.ndarray, propensity: np.ndarray, chosen: np.ndarray
) -> PolicyValue:
    """V_IPS = (1/N) sum_i 1[a_i = pi(x_i)] r_i / p_i for a deterministic policy pi.

    Horvitz and Thompson (1952); Dudík, Langford and Li, "Doubly Robust Policy Evaluation and
    Learning", ICML 2011. `logged` are the logged actions a_i, `propensity` p_i the probability
    the logging policy chose them, `chosen` the actions pi(x_i) of the evaluated policy. The
    standard error is the sample standard deviation of the terms over sqrt(N).
    """
    r = np.asarray(reward, dtype=float)
    p = np.asarray(propensity, dtype=float)
    if len(r) == 0:
        raise ValueError("ips_value needs at least one logged row")
    if not np.all(p > 0):
        raise ValueError(f"propensity must be positive, got min {p.min()}")
    terms = (np.asarray(logged) == np.asarray(chosen)) * r / p
    se = float(terms.std(ddof=1) / np.sqrt(len(r))) if len(r) > 1 else 0.0
    return PolicyValue(value=float(terms.mean()), std_error=se, n=len(r))
