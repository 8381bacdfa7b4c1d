"""Request items → the model's raw input columns, validated field by field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from common.errors import InvalidArgument, ResourceExhausted
from feedback.catalogue import Campaign
from feedback.models import ID_LENGTH as MAX_ID_LENGTH
from server.runtime.model import LoadedModel

FeatureMap = Mapping[str, float | str | None]


@dataclass(frozen=True, slots=True)
class Candidate:
    campaign_id: str
    features: FeatureMap


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """One user's scoring request, transport-free."""

    unit_id: str
    user_features: FeatureMap
    candidates: Sequence[Candidate]
    experiment: str = ""
    model_version: str = ""
    where: str = field(default="", compare=False)  # field path prefix for error messages
    # Candidates named in the catalogue instead of inline (`all_active`: every campaign).
    campaign_ids: Sequence[str] = ()
    all_active: bool = False
    # Filled when the catalogue resolved them: the catalogue's version and campaigns, and
    # what it left out with the reason.
    catalogue_version: int = 0
    catalogue: Mapping[str, Campaign] | None = None
    excluded: tuple[tuple[str, str], ...] = ()
    # The caller's id for the decision (empty: the server makes one), and whether it waits
    # for FeedbackService.ActivateDecisions before it counts.
    decision_id: str = ""
    defer_activation: bool = False


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _value(features: FeatureMap, name: str, kind: str, where: str) -> float | str:
    if name not in features:
        raise InvalidArgument(f"{where}[{name!r}] is missing (the model needs it)")
    value = features[name]
    if kind == "numeric":
        if not isinstance(value, float):
            raise InvalidArgument(f"{where}[{name!r}] must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidArgument(f"{where}[{name!r}] must be finite, got {value!r}")
        if abs(value) > FLOAT32_MAX:  # the model computes in float32: it would become inf
            raise InvalidArgument(f"{where}[{name!r}] is out of the float32 range, got {value!r}")
        return value
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}[{name!r}] must be text, got {value!r}")
    return value


def validate_item(item: ScoreItem, max_candidates: int) -> None:
    p = item.where
    if not item.unit_id:
        raise InvalidArgument(f"{p}unit_id must not be empty")
    if len(item.unit_id) > MAX_ID_LENGTH:
        raise InvalidArgument(f"{p}unit_id is longer than {MAX_ID_LENGTH} characters")
    if len(item.decision_id) > MAX_ID_LENGTH or "\x00" in item.decision_id:
        raise InvalidArgument(
            f"{p}decision_id must be at most {MAX_ID_LENGTH} characters without NUL, "
            f"got {item.decision_id[:64]!r}"
        )
    if not item.candidates:
        raise InvalidArgument(f"{p}candidates must not be empty")
    if len(item.candidates) > max_candidates:
        raise ResourceExhausted(
            f"{p}candidates has {len(item.candidates)} entries; the limit is {max_candidates}"
        )
    if item.catalogue is not None:
        return  # the catalogue's ids: checked when put, duplicates refused when resolved
    seen: set[str] = set()
    for j, c in enumerate(item.candidates):
        if not c.campaign_id:
            raise InvalidArgument(f"{p}candidates[{j}].campaign_id must not be empty")
        if len(c.campaign_id) > MAX_ID_LENGTH:
            raise InvalidArgument(
                f"{p}candidates[{j}].campaign_id is longer than {MAX_ID_LENGTH} characters"
            )
        if c.campaign_id in seen:
            raise InvalidArgument(
                f"{p}candidates[{j}].campaign_id {c.campaign_id!r} is a duplicate"
            )
        seen.add(c.campaign_id)


def _candidate_values(cand: Candidate, model: LoadedModel, where: str) -> list[float | str]:
    """One candidate's campaign features, checked against the model."""
    values = []
    for name, kind in model.campaign_features.items():
        value = _value(cand.features, name, kind, where)
        known = model.campaign_categories.get(name)
        if known is not None and value not in known:
            raise InvalidArgument(
                f"{where}[{name!r}] {value!r} is a campaign the model was not trained "
                f"on; known: {sorted(known)}"
            )
        values.append(value)
    if model.arms:
        model.check_arms(cand.features, where)
    return values


@dataclass(frozen=True)
class CandidateBlock:
    """The catalogue's campaigns as one model's input columns, checked once per (model
    version, catalogue version): a request takes its candidates' rows by index."""

    model_version: str
    catalogue_version: int
    index: Mapping[str, int]
    columns: Mapping[str, np.ndarray]  # per campaign feature: one value per campaign
    problems: Mapping[str, str]  # campaign id -> why the model cannot score it


def _campaign_row(campaign: Campaign, model: LoadedModel) -> list[float | str] | str:
    """A catalogue campaign's checked campaign-feature values for `model`, or why the model
    cannot score it."""
    where = f"catalogue campaign {campaign.campaign_id!r} features"
    try:
        row = _candidate_values(Candidate(campaign.campaign_id, campaign.features), model, where)
    except InvalidArgument as exc:
        return exc.message
    if campaign.cost_share > 0 and not model.revenue:
        return (
            f"catalogue campaign {campaign.campaign_id!r}: cost_share {campaign.cost_share} is a "
            f"share of the expected basket, and model version {model.version} has no revenue "
            "output to give one"
        )
    return row


def campaign_problem(campaign: Campaign, model: LoadedModel) -> str | None:
    """Why `model` cannot score a catalogue campaign, or None."""
    row = _campaign_row(campaign, model)
    return row if isinstance(row, str) else None


def prepare_block(
    campaigns: Mapping[str, Campaign], catalogue_version: int, model: LoadedModel
) -> CandidateBlock:
    index: dict[str, int] = {}
    values: dict[str, list[float | str]] = {c: [] for c in model.campaign_features}
    problems: dict[str, str] = {}
    for cid, campaign in campaigns.items():
        row = _campaign_row(campaign, model)
        if isinstance(row, str):
            problems[cid] = row
            continue
        index[cid] = len(index)
        for name, value in zip(model.campaign_features, row, strict=True):
            values[name].append(value)
    columns = {
        name: np.asarray(
            v, dtype=np.float32 if model.campaign_features[name] == "numeric" else object
        )
        for name, v in values.items()
    }
    return CandidateBlock(model.version, catalogue_version, index, columns, problems)


def build_feeds(
    items: Sequence[ScoreItem],
    model: LoadedModel,
    block: CandidateBlock | None = None,
) -> dict[str, np.ndarray]:
    """One row per (item, candidate), in order: user columns repeat over the item's candidates.

    Items whose candidates came from the catalogue (of `block`'s version) take the candidate
    columns from `block` by index; inline candidates are checked one by one."""
    kinds = {**model.user_features, **model.campaign_features}
    pieces: dict[str, list[np.ndarray]] = {c: [] for c in kinds}
    for item in items:
        n = len(item.candidates)
        for name, kind in model.user_features.items():
            v = _value(item.user_features, name, kind, f"{item.where}user_features")
            dtype: type = np.float32 if kind == "numeric" else object
            pieces[name].append(np.full(n, v, dtype=dtype))
        if (
            block is not None
            and item.catalogue is not None
            and item.catalogue_version == block.catalogue_version
        ):
            # The Scorer has excluded the block's problem campaigns (Scorer._scorable).
            at = np.asarray([block.index[c.campaign_id] for c in item.candidates], dtype=np.intp)
            for name in model.campaign_features:
                pieces[name].append(block.columns[name][at])
            continue
        columns: list[list[float | str]] = [[] for _ in model.campaign_features]
        for j, cand in enumerate(item.candidates):
            row = _candidate_values(cand, model, f"{item.where}candidates[{j}].features")
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        for name, column in zip(model.campaign_features, columns, strict=True):
            dtype = np.float32 if model.campaign_features[name] == "numeric" else object
            pieces[name].append(np.asarray(column, dtype=dtype))
    return {
        name: (np.concatenate(parts) if len(parts) != 1 else parts[0]).reshape(-1, 1)
        for name, parts in pieces.items()
    }
