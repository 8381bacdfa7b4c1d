"""LogDecisions over real gRPC: decisions made elsewhere are stored once, join their outcomes,
show up in the experiment's report, and bad ones are refused naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from clients.client import CampaignLiftClient, ExternalDecision, OutcomeEvent
from feedback.ab_report import experiment_report
from feedback.decisions import count_decisions, get_decision
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.store import Store
from server.runtime.app import RunningServer, start
from tests.conftest import server_settings


@pytest.fixture
def running(store: Store, tmp_path: Path) -> Iterator[RunningServer]:
    save_experiment(
        store,
        Experiment(
            "outside",
            "outside",
            (
                Variant("control", 1.0, {"type": "no_campaign"}),
                Variant("mail", 1.0, {"type": "fixed", "campaign_id": "mail"}),
            ),
        ),
    )
    server = start(server_settings(store, tmp_path))
    yield server
    server.stop()


def decision(i: int, **overrides: object) -> ExternalDecision:
    treated = i % 2 == 1
    values: dict[str, object] = {
        "decision_id": f"ext-{i}",
        "unit_id": f"u-{i}",
        "campaign_id": "mail" if treated else None,
        "propensity": 0.5,
        "experiment": "outside",
        "variant": "mail" if treated else "control",
        "user_features": {"age": 30.0 + i, "region": "north"},
        "campaign_features": {"campaign_type": "email"} if treated else {},
        "decided_at": datetime.now(UTC) - timedelta(minutes=5),
    }
    values.update(overrides)
    return ExternalDecision(**values)  # type: ignore[arg-type]


def test_external_decisions_are_stored_once_and_reported(
    running: RunningServer, store: Store
) -> None:
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
        assert client.log_decisions([decision(i) for i in range(40)]) == (40, 0)
        assert client.log_decisions([decision(i) for i in range(30, 50)]) == (10, 10)
        # Every treated unit converts, no control unit does.
        client.log_outcomes(
            [OutcomeEvent(f"o-{i}", f"ext-{i}", "conversion") for i in range(1, 50, 2)]
        )
    assert count_decisions(store) == 50
    stored = get_decision(store, "ext-3")
    assert stored is not None and stored.campaign_id == "mail" and stored.propensity == 0.5
    assert stored.user_features == {"age": 33.0, "region": "north"}
    assert stored.policy == "external" and stored.chosen_features == {"campaign_type": "email"}
    report = experiment_report(store, "outside")
    means = {v.name: v.means["conversion"] for v in report.variants}
    assert means == {"control": 0.0, "mail": 1.0}


@pytest.mark.parametrize(
    ("bad", "code", "message"),
    [
        ({"propensity": 0.0}, "INVALID_ARGUMENT", "decisions[1].propensity must be in (0, 1]"),
        ({"propensity": 1.5}, "INVALID_ARGUMENT", "decisions[1].propensity must be in (0, 1]"),
        ({"decision_id": ""}, "INVALID_ARGUMENT", "decisions[1].decision_id must not be empty"),
        ({"unit_id": "x" * 300}, "INVALID_ARGUMENT", "decisions[1].unit_id is longer"),
        ({"experiment": "nope"}, "NOT_FOUND", "decisions[1].experiment 'nope' does not exist"),
        ({"variant": "other"}, "INVALID_ARGUMENT", "decisions[1].variant 'other' is not a variant"),
        (
            {"decided_at": datetime.now(UTC) + timedelta(days=2)},
            "INVALID_ARGUMENT",
            "decisions[1].decided_at is in the future",
        ),
    ],
)
def test_bad_decisions_are_refused_whole(
    running: RunningServer, store: Store, bad: dict[str, object], code: str, message: str
) -> None:
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
        with pytest.raises(grpc.RpcError) as err:
            client.log_decisions([decision(0), decision(1, **bad)])
        assert err.value.code().name == code
        assert message in err.value.details()
        assert client.log_decisions([decision(2)]) == (1, 0)  # still serving
    assert count_decisions(store) == 1


def test_external_unit_ids_are_keyed_hashes_when_configured(store: Store, tmp_path: Path) -> None:
    from feedback.privacy import stored_unit_id

    save_experiment(
        store,
        Experiment("outside", "outside", (Variant("control", 1.0, {"type": "no_campaign"}),)),
    )
    server = start(server_settings(store, tmp_path, unit_id_hash_key="secret"))
    try:
        with CampaignLiftClient(f"127.0.0.1:{server.port}") as client:
            client.log_decisions([decision(0)])
    finally:
        server.stop()
    stored = get_decision(store, "ext-0")
    assert stored is not None and stored.unit_id == stored_unit_id("u-0", b"secret") != "u-0"
