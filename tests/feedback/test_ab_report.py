"""The A/B report on real data: the imported Hillstrom test reproduces its per-arm means
exactly, and a synthetic experiment shows a planted lift and a planted sample-ratio mismatch."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from feedback.ab_report import experiment_report
from feedback.import_spec import import_table, load_mapping
from feedback.store import Store
from tests.conftest import ROOT, require_shared_data


def test_hillstrom_report_reproduces_the_per_arm_means(sqlite_store: Store) -> None:
    frame = pd.read_csv(require_shared_data("hillstrom/hillstrom.csv"))
    mapping, control, weights = load_mapping(ROOT / "specs" / "hillstrom-import.toml")
    decisions, _ = import_table(sqlite_store, frame, mapping, control, datetime.now(UTC), weights)
    assert decisions == 64_000
    report = experiment_report(sqlite_store, "hillstrom")
    assert report.control == "No E-Mail"
    truth = frame.groupby("segment")[["visit", "conversion", "spend"]].mean()
    for v in report.variants:
        assert v.units == (frame["segment"] == v.name).sum() == v.decisions
        assert v.means["click"] == pytest.approx(truth.loc[v.name, "visit"], abs=1e-12)
        assert v.means["conversion"] == pytest.approx(truth.loc[v.name, "conversion"], abs=1e-12)
        assert v.means["revenue"] == pytest.approx(truth.loc[v.name, "spend"], abs=1e-9)
    # Randomized in thirds (equal design weights): no sample-ratio mismatch. Both e-mails lifted
    # visits clearly.
    assert [v.weight for v in report.variants] == [1.0, 1.0, 1.0]
    assert report.srm_chi2 > 0.0 and not report.srm_warning
    for v in report.variants[1:]:
        visit = v.versus_control["click"]
        assert visit.absolute_p < 1e-10 and visit.relative > 0.3
        assert visit.chance_to_beat_control > 0.999
    # The spec names last year's spend (`history`) as CUPED's covariate: theta as numpy's.
    assert report.covariate == "history"
    x, y = frame["history"].to_numpy(), frame["spend"].to_numpy()
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    for v in report.variants[1:]:
        cuped = v.cuped["revenue"]
        assert cuped.theta == pytest.approx(theta, rel=1e-9)
        assert 0 < cuped.variance_reduction < 1
        assert v.tests["conversion"].name == "two_proportion_z"


def test_planted_lift_and_sample_ratio_mismatch(sqlite_store: Store) -> None:
    from feedback.decisions import DecisionRecord, write_decisions
    from feedback.experiments import Experiment, Variant, save_experiment
    from feedback.outcomes import Outcome, log_outcomes

    save_experiment(sqlite_store, Experiment("ab", "s", (Variant("a", 1.0), Variant("b", 1.0))))
    now = datetime.now(UTC)
    records, outcomes = [], []
    # 1000 units in a with 10% conversions, 1300 in b (mismatch) with 20%; 2 decisions each.
    for variant, units, every in (("a", 1000, 10), ("b", 1300, 5)):
        for u in range(units):
            for k in range(2):
                did = f"{variant}-{u}-{k}"
                records.append(
                    DecisionRecord(
                        did, f"{variant}{u}", "ab", variant, "p", "1", None, 1.0, {}, [], {}, now
                    )
                )
                if k == 0 and u % every == 0:
                    outcomes.append(Outcome(f"e-{did}", did, "conversion", 1.0, now))
                    outcomes.append(Outcome(f"r-{did}", did, "revenue", 30.0, now))
    write_decisions(sqlite_store, records)
    log_outcomes(sqlite_store, outcomes)
    report = experiment_report(sqlite_store, "ab")
    a, b = report.variants
    assert (a.units, a.decisions, b.units) == (1000, 2000, 1300)
    assert a.means["conversion"] == pytest.approx(0.10) and b.means["conversion"] == pytest.approx(
        0.20
    )
    assert b.means["revenue"] == pytest.approx(6.0)
    assert b.versus_control["conversion"].relative == pytest.approx(1.0)
    assert b.versus_control["conversion"].absolute_p < 1e-9
    assert report.srm_warning and report.srm_p < 1e-9


def test_open_bandit_dataset_two_policies_in_one_experiment(sqlite_store: Store) -> None:
    """Each file holds one logging policy; both land in one experiment with their propensities."""
    from feedback.experiments import get_experiment
    from feedback.training_data import labelled_decisions

    files = {p: require_shared_data(f"obd/{p}/men/men.csv") for p in ("random", "bts")}
    for policy, path in files.items():
        mapping, control, weights = load_mapping(ROOT / "specs" / f"obd-men-{policy}.toml")
        frame = pd.read_csv(path, index_col=0)
        assert (
            import_table(sqlite_store, frame, mapping, control, datetime.now(UTC), weights)[0]
            == 10_000
        )
    experiment = get_experiment(sqlite_store, "obd-men")
    assert [(v.name, v.policy) for v in experiment.variants] == [
        ("random", {"type": "uniform_random"}),
        ("bts", {"type": "bernoulli_thompson_sampling"}),
    ]
    report = experiment_report(sqlite_store, "obd-men")
    for v in report.variants:
        truth = pd.read_csv(files[v.name], index_col=0)
        assert v.units == 10_000
        assert v.means["click"] == pytest.approx(truth["click"].mean(), abs=1e-12)
    logged = labelled_decisions(sqlite_store)
    bts = pd.read_csv(files["bts"], index_col=0)
    stored = logged[logged["decision_id"].str.startswith("obd-men-bts-")].sort_values(
        "decision_id", key=lambda s: s.str.rsplit("-", n=1).str[-1].astype(int)
    )
    assert stored["propensity"].to_numpy() == pytest.approx(bts["propensity_score"].to_numpy())
    assert stored["campaign_id"].tolist() == bts["item_id"].astype(str).tolist()


def test_best_single_campaign_from_the_logs_by_hand(sqlite_store: Store) -> None:
    """Open Bandit Dataset, uniform random and Bernoulli Thompson logs in one experiment: the
    report's best single item is the argmax of (1/N) sum 1[a_i = c] r_i / p_i over both logs,
    computed here from the CSV files, and each variant's difference to it is its own click
    rate minus that value; the message and the CLI table carry it."""
    from clients.render.experiments import best_single_table
    from server.rpc.converters.experiments import report_message

    frames = []
    for policy in ("random", "bts"):
        path = require_shared_data(f"obd/{policy}/men/men.csv")
        mapping, control, weights = load_mapping(ROOT / "specs" / f"obd-men-{policy}.toml")
        frame = pd.read_csv(path, index_col=0)
        import_table(sqlite_store, frame, mapping, control, datetime.now(UTC), weights)
        frames.append(frame.assign(variant=policy))
    logs = pd.concat(frames)
    terms = logs["click"] / logs["propensity_score"]
    by_item = terms.groupby(logs["item_id"].astype(str)).sum() / len(logs)
    report = experiment_report(sqlite_store, "obd-men")
    (click,) = [b for b in report.best_single if b.metric == "click"]
    assert click.campaign_id == by_item.idxmax()
    assert click.value == pytest.approx(by_item.max(), rel=1e-9)
    assert click.decisions == len(logs)
    assert click.ci[0] < click.value < click.ci[1]
    for v in click.versus:
        own = logs.loc[logs["variant"] == v.variant, "click"].mean()
        assert v.mean == pytest.approx(own, abs=1e-12)
        assert v.difference == pytest.approx(own - by_item.max(), rel=1e-9)
        assert v.ci[0] < v.difference < v.ci[1]
    message = report_message(report)
    assert [b.metric for b in message.best_single] == [b.metric for b in report.best_single]
    from google.protobuf.json_format import MessageToDict

    as_dict = MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    table = best_single_table(as_dict)
    assert table.row_count == sum(len(b.versus) for b in report.best_single)
