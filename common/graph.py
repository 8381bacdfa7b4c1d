"""The served ONNX graph's output contract, shared by the trainer that builds it and the server
that reads it: per target t, `t_probability`, `t_control_probability` and `t_uplift`.

`t_uplift` is the model's estimate of the campaign's effect: with the S-learner it equals
`t_probability - t_control_probability`; with an effect model (trainer.uplift, e.g. the
transformed outcome) it is that model's own estimate, so readers must use `t_uplift` and not
recompute it from the probabilities."""

from __future__ import annotations

from collections.abc import Iterable

OUTPUT_SUFFIXES = ("_probability", "_control_probability", "_uplift")
# A revenue target r (expected spend, e.g. P(buy) x E[spend | buy]) is an extra output triple,
# not one of the model's targets: servers that read only the targets' outputs are unaffected.
REVENUE_SUFFIXES = ("_expected", "_control_expected", "_uplift")
# Model metadata key holding the feature schema and targets inside the artifact.
SCHEMA_KEY = "campaign_lift.schema"


def output_names(target: str) -> tuple[str, str, str]:
    """(probability with the campaign, probability without any, uplift) of one target."""
    probability, control, uplift = (f"{target}{s}" for s in OUTPUT_SUFFIXES)
    return probability, control, uplift


def revenue_output_names(revenue: str) -> tuple[str, str, str]:
    """(expected value with the campaign, expected value without any, its uplift)."""
    expected, control, uplift = (f"{revenue}{s}" for s in REVENUE_SUFFIXES)
    return expected, control, uplift


def heads_output_name(target: str) -> str:
    """[N, H]: the uplift by each of H bootstrap heads of the effect model (bootstrapped
    Thompson sampling picks a head per decision and acts greedily on it)."""
    return f"{target}_uplift_heads"


def all_outputs(targets: Iterable[str]) -> list[str]:
    return [name for t in targets for name in output_names(t)]
