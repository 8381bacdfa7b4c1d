"""Bad input gets a clear status naming the field and value, and the server keeps serving."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from clients.client import CampaignLiftClient, score_request
from feedback.store import open_store
from protos.campaignlift.v1 import (
    feedback_pb2,
    feedback_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)
from server.runtime.app import RunningServer, start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, trained_logreg) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("bad-input")
    store = open_store(f"sqlite:///{tmp / 'store.db'}")
    promote_new(store, trained_logreg, tmp / "artifacts")
    server = start(server_settings(store, tmp, max_candidates=50, max_batch=20, max_outcomes=100))
    yield server
    server.stop()
    store.dispose()


@pytest.fixture(scope="module")
def stubs(running: RunningServer):  # type: ignore[no-untyped-def]
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield (
        scoring_pb2_grpc.ScoringServiceStub(channel),
        feedback_pb2_grpc.FeedbackServiceStub(channel),
    )
    channel.close()


def valid_request(world) -> scoring_pb2.ScoreRequest:  # type: ignore[no-untyped-def]
    return score_request(user_request(world, 1))


def _missing_age(r):  # type: ignore[no-untyped-def]
    del r.user_features["age"]


def _text_age(r):  # type: ignore[no-untyped-def]
    r.user_features["age"].text = "thirty"


def _nan_age(r):  # type: ignore[no-untyped-def]
    r.user_features["age"].number = math.nan


def _inf_discount(r):  # type: ignore[no-untyped-def]
    r.candidates[2].features["discount_pct"].number = math.inf


def _number_region(r):  # type: ignore[no-untyped-def]
    r.user_features["region"].number = 3.0


def _unset_region(r):  # type: ignore[no-untyped-def]
    r.user_features["region"].Clear()


def _no_candidates(r):  # type: ignore[no-untyped-def]
    del r.candidates[:]


def _duplicate_candidate(r):  # type: ignore[no-untyped-def]
    r.candidates[1].campaign_id = r.candidates[0].campaign_id


def _empty_campaign_id(r):  # type: ignore[no-untyped-def]
    r.candidates[3].campaign_id = ""


def _empty_unit(r):  # type: ignore[no-untyped-def]
    r.unit_id = ""


def _missing_campaign_feature(r):  # type: ignore[no-untyped-def]
    del r.candidates[4].features["campaign_type"]


def _huge_age(r):  # type: ignore[no-untyped-def]
    r.user_features["age"].number = 1e300


def _unknown_campaign_type(r):  # type: ignore[no-untyped-def]
    r.candidates[1].features["campaign_type"].text = "sms"


def _unknown_version(r):  # type: ignore[no-untyped-def]
    r.model_version = "999"


def _garbage_version(r):  # type: ignore[no-untyped-def]
    r.model_version = "v1; DROP TABLE decisions"


def _superscript_version(r):  # type: ignore[no-untyped-def]
    r.model_version = "\u00b2"


def _huge_version(r):  # type: ignore[no-untyped-def]
    r.model_version = "99999999999999999999"


def _unknown_experiment(r):  # type: ignore[no-untyped-def]
    r.experiment = "no-such-experiment"


def _too_many_candidates(r):  # type: ignore[no-untyped-def]
    template = r.candidates[0]
    for i in range(60):
        c = r.candidates.add()
        c.CopyFrom(template)
        c.campaign_id = f"extra-{i}"


SCORE_CASES = [
    (_missing_age, INVALID, "user_features['age'] is missing"),
    (_text_age, INVALID, "user_features['age'] must be a number, got 'thirty'"),
    (_nan_age, INVALID, "user_features['age'] must be finite, got nan"),
    (_inf_discount, INVALID, "candidates[2].features['discount_pct'] must be finite, got inf"),
    (_number_region, INVALID, "user_features['region'] must be text, got 3.0"),
    (_unset_region, INVALID, "user_features['region'] must be text, got None"),
    (_huge_age, INVALID, "user_features['age'] is out of the float32 range, got 1e+300"),
    (
        _unknown_campaign_type,
        INVALID,
        "candidates[1].features['campaign_type'] 'sms' is a campaign the model was not trained on",
    ),
    (_no_candidates, INVALID, "candidates must not be empty"),
    (_duplicate_candidate, INVALID, "candidates[1].campaign_id 'coupon-10' is a duplicate"),
    (_empty_campaign_id, INVALID, "candidates[3].campaign_id must not be empty"),
    (_empty_unit, INVALID, "unit_id must not be empty"),
    (_missing_campaign_feature, INVALID, "candidates[4].features['campaign_type'] is missing"),
    (_unknown_version, grpc.StatusCode.NOT_FOUND, "model_version 999 is not registered"),
    (_garbage_version, grpc.StatusCode.NOT_FOUND, "model_version 'v1; DROP TABLE decisions'"),
    (_superscript_version, grpc.StatusCode.NOT_FOUND, "model_version '\u00b2' is not registered"),
    (
        _huge_version,
        grpc.StatusCode.NOT_FOUND,
        "model_version '99999999999999999999' is not registered",
    ),
    (
        _unknown_experiment,
        grpc.StatusCode.NOT_FOUND,
        "experiment 'no-such-experiment' does not exist",
    ),
    (
        _too_many_candidates,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "candidates has 65 entries; the limit is 50",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "code", "message"), SCORE_CASES, ids=[c[0].__name__ for c in SCORE_CASES]
)
def test_bad_score_request(stubs, world, mutate, code, message) -> None:  # type: ignore[no-untyped-def]
    scoring, _ = stubs
    request = valid_request(world)
    mutate(request)
    with pytest.raises(grpc.RpcError) as err:
        scoring.Score(request, timeout=5)
    assert err.value.code() == code
    assert message in err.value.details()
    assert "Traceback" not in err.value.details()
    # The server keeps serving.
    assert scoring.Score(valid_request(world), timeout=5).decision.decision_id


def test_bad_item_in_batch_names_its_index(stubs, world) -> None:  # type: ignore[no-untyped-def]
    scoring, _ = stubs
    bad = valid_request(world)
    _nan_age(bad)
    batch = scoring_pb2.ScoreBatchRequest(requests=[valid_request(world), bad])
    with pytest.raises(grpc.RpcError) as err:
        scoring.ScoreBatch(batch, timeout=5)
    assert err.value.code() == INVALID
    assert err.value.details().startswith("requests[1].user_features['age']")
    too_big = scoring_pb2.ScoreBatchRequest(requests=[valid_request(world)] * 21)
    with pytest.raises(grpc.RpcError) as err:
        scoring.ScoreBatch(too_big, timeout=5)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def _outcome(**kw: object) -> feedback_pb2.Outcome:
    base: dict[str, object] = {
        "event_id": "e-1",
        "decision_id": "d-1",
        "type": feedback_pb2.OUTCOME_TYPE_CLICK,
        "value": 1.0,
    }
    base.update(kw)
    return feedback_pb2.Outcome(**base)  # type: ignore[arg-type]


OUTCOME_CASES = [
    (_outcome(event_id=""), "outcomes[0].event_id must not be empty"),
    (_outcome(decision_id=""), "outcomes[0].decision_id must not be empty"),
    (_outcome(type=feedback_pb2.OUTCOME_TYPE_UNSPECIFIED), "outcomes[0].type must be one of"),
    (_outcome(type=42), "got '42'"),
    (_outcome(value=-3.0), "outcomes[0].value must be finite and >= 0, got -3.0"),
    (_outcome(value=math.nan), "outcomes[0].value must be finite and >= 0, got nan"),
    (_outcome(event_id="x" * 300), "outcomes[0].event_id is longer than 256"),
    (_outcome(value=2.0), "outcomes[0].value of a click must be 0 or 1, got 2.0"),
    (
        _outcome(occurred_at=Timestamp(seconds=4_000_000_000)),
        "outcomes[0].occurred_at is in the future",
    ),
]


@pytest.mark.parametrize(("outcome", "message"), OUTCOME_CASES, ids=[m for _, m in OUTCOME_CASES])
def test_bad_outcome(stubs, outcome, message) -> None:  # type: ignore[no-untyped-def]
    _, feedback = stubs
    with pytest.raises(grpc.RpcError) as err:
        feedback.LogOutcomes(feedback_pb2.LogOutcomesRequest(outcomes=[outcome]), timeout=5)
    assert err.value.code() == INVALID
    assert message in err.value.details()


def test_bad_outcome_batch_stores_nothing_and_too_many_is_refused(stubs, running) -> None:  # type: ignore[no-untyped-def]
    from feedback.outcomes import count_outcomes

    _, feedback = stubs
    before = count_outcomes(running.store)
    batch = [_outcome(event_id="ok-1"), _outcome(event_id="bad", value=-1.0)]
    with pytest.raises(grpc.RpcError):
        feedback.LogOutcomes(feedback_pb2.LogOutcomesRequest(outcomes=batch), timeout=5)
    assert count_outcomes(running.store) == before
    many = [_outcome(event_id=f"m-{i}") for i in range(101)]
    with pytest.raises(grpc.RpcError) as err:
        feedback.LogOutcomes(feedback_pb2.LogOutcomesRequest(outcomes=many), timeout=5)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_no_production_model_is_not_serving(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    server = start(server_settings(store, tmp_path))
    try:
        target = f"127.0.0.1:{server.port}"
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = health.Check(
                health_pb2.HealthCheckRequest(service="campaignlift.v1.ScoringService"), timeout=5
            )
            assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
            feedback_status = health.Check(
                health_pb2.HealthCheckRequest(service="campaignlift.v1.FeedbackService"), timeout=5
            )
            assert feedback_status.status == health_pb2.HealthCheckResponse.SERVING
        with CampaignLiftClient(target) as client, pytest.raises(grpc.RpcError) as err:
            client.score(user_request(world, 0))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no production model" in err.value.details()
    finally:
        server.stop()
        store.dispose()


def test_misconfigured_experiment_is_failed_precondition(stubs, running, world) -> None:  # type: ignore[no-untyped-def]
    from feedback.experiments import Experiment, Variant, save_experiment

    save_experiment(
        running.store, Experiment("broken", "s", (Variant("a", 1.0, {"type": "bandit9000"}),))
    )
    scoring, _ = stubs
    request = valid_request(world)
    request.experiment = "broken"
    with pytest.raises(grpc.RpcError) as err:
        scoring.Score(request, timeout=5)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "experiment 'broken' is misconfigured: policy.type must be one of" in err.value.details()
