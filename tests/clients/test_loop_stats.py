"""The closed loop's accounting against the honest baselines: the best single action for the
decisions' users, the oracle, the share of the personalization gain, the last part of a run."""

from __future__ import annotations

import numpy as np
import pytest

from clients.loop import ArmStats, LoopReport


def test_best_single_and_share_of_gain_by_hand() -> None:
    s = ArmStats()
    # Two users, three actions; the policy took action 1 for the first, action 0 for the second.
    s.add(0.3, 0.3, np.array([0.1, 0.3, 0.2]))
    s.add(0.5, 0.5, np.array([0.5, 0.1, 0.2]))
    arm, single = s.best_single
    assert arm == 0 and single == pytest.approx(0.3)  # (0.1 + 0.5) / 2 beats 0.2 and 0.2
    assert s.oracle_per_decision == pytest.approx(0.4)
    assert s.gain_share == pytest.approx((0.4 - 0.3) / (0.4 - 0.3))  # the oracle: all of it
    worse = ArmStats()
    worse.add(0.1, 0.3, np.array([0.1, 0.3, 0.2]))
    worse.add(0.5, 0.5, np.array([0.5, 0.1, 0.2]))
    assert worse.gain_share == pytest.approx((0.3 - 0.3) / 0.1)  # what the A/B winner gets


def test_last_share_takes_whole_windows_from_the_end() -> None:
    report = LoopReport()
    for value in (0.1, 0.2, 0.3, 0.4, 0.5):
        window = ArmStats()
        for _ in range(10):
            window.add(value, 0.6, np.array([value, 0.2]))
        report.timeline.append({"learned": window})
    tail = report.last("learned", 0.2)
    assert tail.decisions == 10 and tail.reward_per_decision == pytest.approx(0.5)
    two = report.last("learned", 0.3)
    assert two.decisions == 20 and two.reward_per_decision == pytest.approx(0.45)
    assert two.best_single == (0, pytest.approx(0.45))
    assert ArmStats.merged([]).decisions == 0
