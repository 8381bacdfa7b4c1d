"""The chosen action's scores kept beside each decision (decisions.chosen_prediction): what the
calibration aggregate and the policy updater read instead of every candidate's scores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from feedback.decisions import DecisionRecord, chosen_prediction, get_decision, write_decisions
from feedback.store import Store

CONTROL = {"click": 0.1, "conversion": 0.02}
CANDIDATES: list[dict[str, Any]] = [
    {
        "campaign_id": "a",
        "probability": {"click": 0.3, "conversion": 0.05},
        "uplift": {"click": 0.2, "conversion": 0.03},
        "control": CONTROL,
        "expected": {"spend": 4.0},
        "expected_uplift": {"spend": 1.5},
    },
    {
        "campaign_id": "b",
        "probability": {"click": 0.4, "conversion": 0.01},
        "uplift": {"click": 0.3, "conversion": -0.01},
        "control": CONTROL,
        "expected": {"spend": 2.0},
        "expected_uplift": {"spend": -0.5},
    },
]


@pytest.mark.parametrize(
    ("candidates", "campaign_id", "expected"),
    [
        (
            CANDIDATES,
            "b",
            {
                "probability": {"click": 0.4, "conversion": 0.01},
                "uplift": {"click": 0.3, "conversion": -0.01},
                "expected": {"spend": 2.0},
                "expected_uplift": {"spend": -0.5},
            },
        ),
        # No campaign: the stored control probabilities; revenue control = value - uplift.
        (
            CANDIDATES,
            None,
            {
                "probability": CONTROL,
                "uplift": {"click": 0.0, "conversion": 0.0},
                "expected": {"spend": 2.5},
                "expected_uplift": {"spend": 0.0},
            },
        ),
        # Older records kept no control: probability - uplift of the first candidate.
        (
            [{"campaign_id": "a", "probability": {"click": 0.3}, "uplift": {"click": 0.25}}],
            None,
            {"probability": {"click": pytest.approx(0.05)}, "uplift": {"click": 0.0}},
        ),
        # A non-finite score was stored as null: it stays unknown, not zero.
        (
            [{"campaign_id": "a", "probability": {"click": None}, "uplift": {"click": None}}],
            None,
            {"probability": {"click": None}, "uplift": {"click": 0.0}},
        ),
        ([], "a", {}),  # imported logs keep no candidates
        ([], None, {}),
        (CANDIDATES, "unknown", {}),
        # Shapes the server never writes (LogDecisions callers, old fixtures): ignored.
        ([{"campaign_id": "a", "probability": 0.2, "uplift": 0.05}], "a", {}),
        ([{"campaign_id": "a", "probability": 0.2, "control": 0.1}], None, {}),
    ],
)
def test_chosen_prediction(
    candidates: list[dict[str, Any]], campaign_id: str | None, expected: dict[str, Any]
) -> None:
    assert chosen_prediction(candidates, campaign_id) == expected


@pytest.mark.parametrize("campaign_id", ["a", None])
def test_written_with_every_decision(store: Store, campaign_id: str | None) -> None:
    record = DecisionRecord(
        "d1", "u1", "", "", "eg", "1", campaign_id, 0.5, {}, CANDIDATES, {}, datetime.now(UTC)
    )
    write_decisions(store, [record])
    stored = get_decision(store, "d1")
    assert stored is not None
    assert stored.chosen_prediction == chosen_prediction(CANDIDATES, campaign_id) != {}
