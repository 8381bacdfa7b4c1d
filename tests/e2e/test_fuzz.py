"""Property-based fuzzing of every RPC over real gRPC against one real server with a real model.

Properties, for every generated request: the status is never INTERNAL or UNKNOWN, the details
never carry a traceback or a source path, and the server keeps serving (a valid Score right
after succeeds). Seeds are fixed (derandomize) so CI runs the same ~1,100 cases every time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.client import score_request
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.store import open_store
from protos.campaignlift.v1 import (
    common_pb2,
    feedback_pb2,
    scoring_pb2,
    scoring_pb2_grpc,
)
from server.runtime.app import RunningServer, start
from tests.conftest import promote_new, server_settings
from tests.e2e.fuzzing import (
    ADVERSARIAL_TEXT,
    EXTREME_SECONDS,
    Answer,
    Rpc,
    all_rpcs,
    assert_handled,
    call,
    length_delimited,
    messages,
    string_fields,
)
from tests.e2e.helpers import user_request

ADMIN_TOKEN = "fuzz-admin-token"
RPCS = all_rpcs()
BY_NAME = {r.name: r for r in RPCS}
BASE = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(examples: int) -> settings:
    return settings(BASE, max_examples=examples)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, trained_logreg) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz")
    store = open_store(f"sqlite:///{tmp / 'store.db'}")
    promote_new(store, trained_logreg, tmp / "artifacts")
    save_experiment(
        store,
        Experiment(
            "fz",
            "salt",
            (
                Variant("greedy", 1.0, {"type": "epsilon_greedy", "epsilon": 0.2}),
                Variant("ts", 1.0, {"type": "thompson", "draws": 50}),
            ),
        ),
    )
    server = start(
        server_settings(
            store,
            tmp,
            admin_token=ADMIN_TOKEN,
            max_candidates=50,
            max_batch=20,
            max_outcomes=100,
            max_message_bytes=1024 * 1024,
        )
    )
    yield server
    server.stop()
    store.dispose()


@pytest.fixture(scope="module")
def channel(running: RunningServer) -> Iterator[grpc.Channel]:
    ch = grpc.insecure_channel(
        f"127.0.0.1:{running.port}",
        options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
    )
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def valid(world) -> scoring_pb2.ScoreRequest:  # type: ignore[no-untyped-def]
    request = score_request(user_request(world, 1))
    request.model_version = "1"  # admin calls the fuzzer makes may move stage pointers
    return request


def still_serving(channel: grpc.Channel, valid: scoring_pb2.ScoreRequest) -> None:
    reply = scoring_pb2_grpc.ScoringServiceStub(channel).Score(valid, timeout=30)
    assert reply.decision.decision_id


def check(
    channel: grpc.Channel, valid: scoring_pb2.ScoreRequest, answer: Answer, what: str
) -> None:
    assert_handled(answer, what)
    still_serving(channel, valid)


def _metadata(rpc: Rpc, with_token: bool) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {ADMIN_TOKEN}"),) if with_token else ()


# 1. Any message of the right type, for every RPC, with and without the admin token.
@fuzz(450)
@given(data=st.data())
def test_every_rpc_survives_generated_messages(channel, valid, data) -> None:  # type: ignore[no-untyped-def]
    rpc = data.draw(st.sampled_from(RPCS), label="rpc")
    with_token = data.draw(st.booleans(), label="token")
    count = data.draw(st.integers(1, 3)) if rpc.client_streaming else 1
    payloads = [data.draw(messages(rpc.request)).SerializeToString() for _ in range(count)]
    answer = call(channel, rpc, payloads, _metadata(rpc, with_token))
    check(channel, valid, answer, rpc.path)


# 2. Raw bytes: invalid UTF-8 in each string field, truncated and random payloads.
@fuzz(200)
@given(data=st.data())
def test_every_rpc_survives_undecodable_bytes(channel, valid, data) -> None:  # type: ignore[no-untyped-def]
    rpc = data.draw(st.sampled_from(RPCS), label="rpc")
    numbers = string_fields(rpc.request)
    kind = data.draw(st.sampled_from(["utf8", "random", "truncated"]))
    if kind == "utf8" and numbers:
        number = data.draw(st.sampled_from(numbers))
        bad = data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"ok\xed\xa0\x80", b"\xf8\x88"]))
        payload = length_delimited(number, bad)
    elif kind == "truncated":
        payload = length_delimited(1, b"abcdef")[:-3]
    else:
        payload = data.draw(st.binary(min_size=1, max_size=64))
    answer = call(channel, rpc, [payload], _metadata(rpc, True))
    check(channel, valid, answer, f"{rpc.path} {kind} {payload!r}")


def test_invalid_utf8_is_invalid_argument_naming_the_message(channel, valid) -> None:  # type: ignore[no-untyped-def]
    payload = valid.SerializeToString() + length_delimited(1, b"user-\xff")  # unit_id
    answer = call(channel, BY_NAME["Score"], [payload])
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid Score request message" in answer.details
    outcomes = length_delimited(1, length_delimited(1, b"\xc3\x28"))  # outcomes[0].event_id
    answer = call(channel, BY_NAME["StreamOutcomes"], [outcomes])
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid StreamOutcomes request message" in answer.details


# 3. Score and ScoreBatch: a valid request with one adversarial change, so validation deeper
#    than "unit_id must not be empty" is reached.
def _feature_values() -> st.SearchStrategy[common_pb2.FeatureValue]:
    number = st.floats(allow_nan=True, allow_infinity=True).map(
        lambda x: common_pb2.FeatureValue(number=x)
    )
    text = st.one_of(st.sampled_from(ADVERSARIAL_TEXT), st.text(max_size=20)).map(
        lambda s: common_pb2.FeatureValue(text=s)
    )
    return st.one_of(number, text, st.just(common_pb2.FeatureValue()))


@st.composite
def mutated_score(draw: st.DrawFn, base: scoring_pb2.ScoreRequest) -> scoring_pb2.ScoreRequest:
    r = scoring_pb2.ScoreRequest()
    r.CopyFrom(base)
    r.model_version = draw(st.sampled_from(["", "1", "1"]))
    for _ in range(draw(st.integers(1, 3))):
        change = draw(
            st.sampled_from(
                [
                    "user_feature",
                    "candidate_feature",
                    "drop_user_feature",
                    "extra_feature",
                    "unit_id",
                    "experiment",
                    "model_version",
                    "duplicate",
                    "many",
                    "campaign_id",
                ]
            )
        )
        if change == "user_feature":
            name = draw(st.sampled_from(sorted(r.user_features)))
            r.user_features[name].CopyFrom(draw(_feature_values()))
        elif change == "candidate_feature" and r.candidates:
            c = r.candidates[draw(st.integers(0, len(r.candidates) - 1))]
            name = draw(st.sampled_from(sorted(c.features) or ["campaign_type"]))
            c.features[name].CopyFrom(draw(_feature_values()))
        elif change == "drop_user_feature":
            del r.user_features[draw(st.sampled_from(sorted(r.user_features)))]
        elif change == "extra_feature":
            key = draw(st.sampled_from(ADVERSARIAL_TEXT[:12]))
            r.user_features[key].CopyFrom(draw(_feature_values()))
        elif change == "unit_id":
            r.unit_id = draw(st.one_of(st.sampled_from(ADVERSARIAL_TEXT), st.text(max_size=20)))
        elif change == "experiment":
            r.experiment = draw(st.sampled_from(["fz", "fz", "nope", *ADVERSARIAL_TEXT[:8]]))
        elif change == "model_version":
            r.model_version = draw(
                st.sampled_from(["0", "-1", "2", "1.0", "\u0661", "9" * 30, "x" * 300, " 1"])
            )
        elif change == "duplicate" and r.candidates:
            r.candidates.add().CopyFrom(r.candidates[0])
        elif change == "many":
            template = r.candidates[0] if r.candidates else scoring_pb2.Candidate()
            for i in range(draw(st.sampled_from([0, 10, 46, 60, 300]))):
                extra = r.candidates.add()
                extra.CopyFrom(template)
                extra.campaign_id = f"extra-{i}"
        elif change == "campaign_id" and r.candidates:
            r.candidates[-1].campaign_id = draw(st.sampled_from(ADVERSARIAL_TEXT))
    return r


@fuzz(250)
@given(data=st.data())
def test_score_survives_adversarial_requests(channel, valid, data) -> None:  # type: ignore[no-untyped-def]
    request = data.draw(mutated_score(valid))
    if data.draw(st.booleans()):
        rpc = BY_NAME["Score"]
        payload = request.SerializeToString()
    else:
        rpc = BY_NAME["ScoreBatch"]
        size = data.draw(st.sampled_from([1, 2, 21]))
        payload = scoring_pb2.ScoreBatchRequest(
            requests=[request] + [valid] * (size - 1)
        ).SerializeToString()
    answer = call(channel, rpc, [payload])
    check(channel, valid, answer, f"{rpc.name} {request}"[:2000])


# 4. Feedback: outcomes and decisions with negative revenue, NaN, far-future and pre-1970 times,
#    duplicate ids, unknown decisions and experiments.
def _stamp(draw: st.DrawFn) -> Timestamp | None:
    choice = draw(st.sampled_from(["none", "now", "extreme", "nanos"]))
    if choice == "none":
        return None
    if choice == "now":
        stamp = Timestamp()
        stamp.FromDatetime(datetime.now(UTC) - timedelta(seconds=draw(st.integers(-5, 10**6))))
        return stamp
    if choice == "nanos":
        return Timestamp(seconds=1_700_000_000, nanos=draw(st.sampled_from([-1, 10**9, 2**31 - 1])))
    return Timestamp(seconds=draw(st.sampled_from(EXTREME_SECONDS)))


@st.composite
def outcomes(draw: st.DrawFn) -> feedback_pb2.Outcome:
    ids = st.one_of(st.sampled_from(ADVERSARIAL_TEXT), st.text(min_size=1, max_size=20))
    msg = feedback_pb2.Outcome(
        event_id=draw(st.one_of(st.sampled_from(["ev-1", "ev-1", "ev-2"]), ids)),
        decision_id=draw(ids),
        type=draw(st.sampled_from([1, 2, 3, 0, 7, -1])),
        value=draw(
            st.one_of(
                st.sampled_from([0.0, 1.0, -5.0, math.nan, math.inf, 1e308, 12.5]), st.floats()
            )
        ),
    )
    stamp = _stamp(draw)
    if stamp is not None:
        msg.occurred_at.CopyFrom(stamp)
    return msg


@st.composite
def decisions(draw: st.DrawFn, base: scoring_pb2.ScoreRequest) -> feedback_pb2.LoggedDecision:
    ids = st.one_of(st.sampled_from(ADVERSARIAL_TEXT), st.text(min_size=1, max_size=20))
    msg = feedback_pb2.LoggedDecision(
        decision_id=draw(st.one_of(st.sampled_from(["dec-1", "dec-1"]), ids)),
        unit_id=draw(ids),
        experiment=draw(st.sampled_from(["fz", "nope", "", *ADVERSARIAL_TEXT[:6]])),
        variant=draw(st.sampled_from(["greedy", "ts", "", "'; --"])),
        policy=draw(st.sampled_from(["", "uniform_random", "x" * 300])),
        campaign_id=draw(st.sampled_from(["", "coupon-10", "\x00", "x" * 300])),
        no_campaign=draw(st.booleans()),
        propensity=draw(st.sampled_from([0.5, 0.0, -1.0, 1.5, math.nan, math.inf, 1.0])),
        model_version=draw(st.sampled_from(["", "1", "x", "9" * 30])),
    )
    for name, value in base.user_features.items():
        msg.user_features[name].CopyFrom(value)
    if draw(st.booleans()):
        msg.user_features[draw(st.sampled_from(sorted(base.user_features)))].CopyFrom(
            draw(_feature_values())
        )
    msg.campaign_features["campaign_type"].CopyFrom(draw(_feature_values()))
    stamp = _stamp(draw)
    if stamp is not None:
        msg.decided_at.CopyFrom(stamp)
    return msg


@fuzz(250)
@given(data=st.data())
def test_feedback_survives_adversarial_events(channel, valid, data) -> None:  # type: ignore[no-untyped-def]
    kind = data.draw(st.sampled_from(["LogOutcomes", "StreamOutcomes", "LogDecisions"]))
    rpc = BY_NAME[kind]
    if kind == "LogDecisions":
        batch = data.draw(st.lists(decisions(valid), min_size=0, max_size=4))
        payloads = [feedback_pb2.LogDecisionsRequest(decisions=batch).SerializeToString()]
    else:
        n_batches = data.draw(st.integers(1, 3)) if kind == "StreamOutcomes" else 1
        payloads = [
            feedback_pb2.LogOutcomesRequest(
                outcomes=data.draw(st.lists(outcomes(), min_size=0, max_size=4))
            ).SerializeToString()
            for _ in range(n_batches)
        ]
    answer = call(channel, rpc, payloads)
    check(channel, valid, answer, f"{kind} {payloads!r}"[:2000])


# 5. Each size limit, at its configured value (max_message_bytes 1 MiB, max_candidates 50,
#    max_batch 20, max_outcomes 100, which also bounds LogDecisions).
def _refused(answer: Answer, message: str) -> None:
    assert answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED, answer
    assert message in answer.details, answer


def test_each_size_limit_is_enforced(channel, valid) -> None:  # type: ignore[no-untyped-def]
    def score(request: scoring_pb2.ScoreRequest) -> Answer:
        return call(channel, BY_NAME["Score"], [request.SerializeToString()])

    huge = scoring_pb2.ScoreRequest()
    huge.CopyFrom(valid)
    huge.unit_id = "u" * (2 * 1024 * 1024)  # one huge string
    _refused(score(huge), "")
    many = scoring_pb2.ScoreRequest()
    many.CopyFrom(valid)
    for i in range(100_000):  # a "millions of candidates" request stops at the message limit
        many.candidates.add(campaign_id=f"c-{i}").features["campaign_type"].text = "discount"
    assert many.ByteSize() > 1024 * 1024
    _refused(score(many), "")
    del many.candidates[51:]
    _refused(score(many), "candidates has 51 entries; the limit is 50")
    del many.candidates[50:]
    assert score(many).code == grpc.StatusCode.INVALID_ARGUMENT  # at the limit: validated
    batch = scoring_pb2.ScoreBatchRequest(requests=[valid] * 21)
    _refused(
        call(channel, BY_NAME["ScoreBatch"], [batch.SerializeToString()]),
        "requests has 21 entries; the limit is 20",
    )
    batch = scoring_pb2.ScoreBatchRequest(requests=[valid] * 20)
    assert (
        call(channel, BY_NAME["ScoreBatch"], [batch.SerializeToString()]).code == grpc.StatusCode.OK
    )
    outcomes = feedback_pb2.LogOutcomesRequest(
        outcomes=[
            feedback_pb2.Outcome(event_id=f"lim-{i}", decision_id="d", type=1, value=1.0)
            for i in range(101)
        ]
    ).SerializeToString()
    _refused(
        call(channel, BY_NAME["LogOutcomes"], [outcomes]),
        "outcomes has 101 entries; the limit is 100",
    )
    _refused(
        call(channel, BY_NAME["StreamOutcomes"], [outcomes]),
        "batch 0: outcomes has 101 entries; the limit is 100",
    )
    decisions = feedback_pb2.LogDecisionsRequest(
        decisions=[feedback_pb2.LoggedDecision(decision_id=f"lim-{i}") for i in range(101)]
    ).SerializeToString()
    _refused(
        call(channel, BY_NAME["LogDecisions"], [decisions]),
        "decisions has 101 entries; the limit is 100",
    )
    still_serving(channel, valid)
