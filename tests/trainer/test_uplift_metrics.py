"""Uplift and policy metrics against values computed by hand on tiny examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import require_shared_data
from trainer.uplift_metrics import (
    auuc,
    ips_value,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
)

# Six rows, best score first: treated rates 1/3, control rates 2/3 (average effect -1/3).
Y = np.array([1, 0, 1, 0, 0, 1])
T = np.array([True, True, False, False, True, False])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_qini_curve_by_hand() -> None:
    x, q = qini_curve(Y, T, S)
    np.testing.assert_allclose(x, np.arange(7) / 6)
    # (Y_t - Y_c N_t / N_c) / N_t at each cut, N_t = 3
    np.testing.assert_allclose(q, [0, 1 / 3, 1 / 3, -1 / 3, 0, -1 / 6, -1 / 3])


def test_qini_coefficient_and_auuc_by_hand() -> None:
    # Trapezoids of width 1/6 over q: (1/3 + 1/3 - 1/3 + 0 - 1/6 - 1/6) / 6 = 0; random: -1/6.
    assert qini_coefficient(Y, T, S) == pytest.approx(1 / 6)
    _, g = uplift_curve(Y, T, S)
    np.testing.assert_allclose(g, [0, 1 / 6, 1 / 6, -1 / 4, 0, -5 / 36, -1 / 3])
    assert auuc(Y, T, S) == pytest.approx(-1 / 27)


def test_tied_scores_are_one_step_and_random_scores_zero() -> None:
    flat = np.zeros(6)
    x, q = qini_curve(Y, T, flat)
    np.testing.assert_allclose(x, [0, 1])
    np.testing.assert_allclose(q, [0, -1 / 3])
    assert qini_coefficient(Y, T, flat) == pytest.approx(0.0)
    assert auuc(Y, T, flat) == pytest.approx(-1 / 6)


def test_reversed_ranking_scores_below_random() -> None:
    assert qini_coefficient(Y, T, -S) < 0 < qini_coefficient(Y, T, S)


def test_uplift_at_k() -> None:
    assert uplift_at_k(Y, T, S, 0.5) == pytest.approx(0.5 - 1.0)  # top 3: t [1, 0], c [1]
    assert uplift_at_k(Y, T, S, 1.0) == pytest.approx(1 / 3 - 2 / 3)
    assert uplift_at_k(Y, T, S, 0.2) is None  # top 2 rows are all treated
    with pytest.raises(ValueError, match="k must be in"):
        uplift_at_k(Y, T, S, 0.0)


def test_ips_value_by_hand() -> None:
    reward = np.array([1.0, 0.0, 1.0, 1.0])
    logged = np.array(["a", "b", "a", "b"])
    propensity = np.array([0.5, 0.25, 0.5, 0.25])
    v = ips_value(reward, logged, propensity, np.array(["a", "a", "b", "b"]))
    terms = np.array([2.0, 0.0, 0.0, 4.0])
    assert v.value == pytest.approx(1.5)
    assert v.std_error == pytest.approx(terms.std(ddof=1) / 2)
    low, high = v.interval
    assert low < 1.5 < high
    with pytest.raises(ValueError, match="propensity must be positive"):
        ips_value(reward, logged, np.zeros(4), logged)


def test_ips_of_always_mens_email_is_that_arms_rate_on_hillstrom() -> None:
    data = pd.read_csv(require_shared_data("hillstrom/hillstrom.csv"))
    arm = data["segment"].to_numpy()
    share = data["segment"].map(data["segment"].value_counts(normalize=True)).to_numpy()
    for target in ("visit", "conversion"):
        reward = data[target].to_numpy(float)
        v = ips_value(reward, arm, share, np.full(len(arm), "Mens E-Mail"))
        observed = reward[arm == "Mens E-Mail"].mean()
        assert v.value == pytest.approx(observed, rel=1e-12)
        assert v.interval[0] < observed < v.interval[1]
