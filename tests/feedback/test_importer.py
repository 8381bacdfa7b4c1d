"""Importing a logged table: decisions and outcomes land in the store once, and join back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import InvalidArgument
from feedback.decisions import count_decisions
from feedback.importer import LogMapping, import_logged
from feedback.outcomes import count_outcomes
from feedback.store import Store
from feedback.training_data import labelled_decisions


def mapping(spec) -> LogMapping:  # type: ignore[no-untyped-def]
    return LogMapping(
        row_id="decision_id",
        unit_id="unit_id",
        campaign_id="campaign_id",
        propensity="propensity",
        user_features=list(spec.user_features),
        campaign_features=list(spec.campaign_features),
        outcomes={"click": "click", "conversion": "conversion"},
        policy="uniform_random",
    )


def test_import_round_trips_and_is_idempotent(store: Store, world, sim_spec) -> None:  # type: ignore[no-untyped-def]
    hist = world.history(400, seed=9)
    when = datetime.now(UTC) - timedelta(days=1)
    decisions, outcomes = import_logged(store, hist, mapping(sim_spec), decided_at=when)
    assert decisions == 400
    assert outcomes == int(hist["click"].sum() + hist["conversion"].sum())
    # Importing the same table again adds nothing.
    assert import_logged(store, hist, mapping(sim_spec), decided_at=when)[1] == 0
    assert count_decisions(store) == 400
    assert count_outcomes(store) == outcomes

    joined = labelled_decisions(store).set_index("decision_id").loc[hist["decision_id"]]
    assert joined["click"].tolist() == hist["click"].astype(float).tolist()
    assert joined["conversion"].tolist() == hist["conversion"].astype(float).tolist()
    assert joined["campaign_type"].tolist() == hist["campaign_type"].tolist()
    no_campaign = hist["campaign_id"].eq("").to_numpy()
    assert joined["campaign_id"].isna().to_numpy().tolist() == no_campaign.tolist()
    assert joined["propensity"].tolist() == pytest.approx([1 / 6] * 400)


def test_import_names_missing_columns(store: Store, world, sim_spec) -> None:  # type: ignore[no-untyped-def]
    hist = world.history(10, seed=9).drop(columns=["propensity"])
    with pytest.raises(InvalidArgument, match=r"lacks columns \['propensity'\]"):
        import_logged(store, hist, mapping(sim_spec), decided_at=datetime.now(UTC))
