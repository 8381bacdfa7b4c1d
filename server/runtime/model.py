"""A loaded model version: its onnxruntime session, feature schema and targets."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from common.errors import InvalidArgument, ModelError
from common.graph import (
    SCHEMA_KEY,
    all_outputs,
    heads_output_name,
    output_names,
    revenue_output_names,
)
from feedback.registry import ModelVersion

log = logging.getLogger(__name__)

ORT_TYPES = {"numeric": "tensor(float)", "categorical": "tensor(string)"}


@dataclass(frozen=True, slots=True)
class Prediction:
    """One objective's outputs per row. `uplift` is the model's own effect estimate (with an
    effect model it is not `value - control`: read it, never recompute it)."""

    value: np.ndarray  # probability (targets) or expected value (revenue) with the campaign
    control: np.ndarray  # the same without any campaign
    uplift: np.ndarray
    # [rows, H]: the uplift by each bootstrap head, when the model has heads for this target.
    heads: np.ndarray | None = None

    def take(self, indices: list[int]) -> Prediction:
        """The predictions of the given rows, in that order."""
        return Prediction(
            self.value[indices],
            self.control[indices],
            self.uplift[indices],
            None if self.heads is None else self.heads[indices],
        )

    def rows(self, start: int, stop: int) -> Prediction:
        """The predictions of rows start..stop (one decision's candidates)."""
        return Prediction(
            self.value[start:stop],
            self.control[start:stop],
            self.uplift[start:stop],
            None if self.heads is None else self.heads[start:stop],
        )


@dataclass(frozen=True)
class LoadedModel:
    version: str
    session: ort.InferenceSession
    user_features: dict[str, str]
    campaign_features: dict[str, str]
    control: dict[str, Any]
    targets: tuple[str, ...]
    # Per categorical campaign feature, the values the model was trained on.
    campaign_categories: dict[str, frozenset[str]]
    # Revenue outputs (expected value, e.g. spend = P(buy) x E[spend | buy]); not targets.
    revenue: tuple[str, ...] = ()
    # The registered feature schema (outcome types of the targets, revenue, categories, ...).
    schema: Mapping[str, Any] = field(default_factory=dict)
    # Targets with bootstrap heads (`<t>_uplift_heads`).
    heads: tuple[str, ...] = ()
    # The campaign-feature combinations of a per-arm learner (empty: any combination).
    arms: frozenset[tuple[Any, ...]] = frozenset()

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return list(self.session.run(outputs, feeds))
        except Exception as exc:  # inputs are validated before: a failure here is a bug
            raise RuntimeError(f"model version {self.version} failed to run: {exc}") from exc

    @property
    def feature_kinds(self) -> dict[str, str]:
        """Every graph input (user, then campaign features) with its kind."""
        return {**self.user_features, **self.campaign_features}

    @property
    def objectives(self) -> tuple[str, ...]:
        """What a policy may maximize: every target's probability and every revenue output."""
        return (*self.targets, *self.revenue)

    def output_names(self, objective: str) -> tuple[str, str, str]:
        """(with the campaign, without any, uplift) outputs of a target or revenue output."""
        if objective in self.revenue:
            return revenue_output_names(objective)
        return output_names(objective)

    def predict_all(self, feeds: dict[str, np.ndarray]) -> dict[str, Prediction]:
        """Per target and revenue output: with the campaign, without any, the uplift, and the
        bootstrap heads' uplifts where the model has them."""
        names = [n for t in self.targets for n in output_names(t)]
        names += [n for r in self.revenue for n in revenue_output_names(r)]
        names += [heads_output_name(t) for t in self.heads]
        out = self.run(names, feeds)
        heads = dict(zip(self.heads, out[3 * len(self.objectives) :], strict=True))
        return {
            name: Prediction(
                out[3 * i].ravel(), out[3 * i + 1].ravel(), out[3 * i + 2].ravel(), heads.get(name)
            )
            for i, name in enumerate(self.objectives)
        }

    def check_arms(self, features: Mapping[str, Any], where: str) -> None:
        """Per-arm learners know only their training arms: another campaign is refused."""
        if not self.arms:
            return
        key = tuple(
            float(np.float32(features[c])) if kind == "numeric" else str(features[c]).strip()
            for c, kind in self.campaign_features.items()
        )
        if key not in self.arms:
            known = sorted(
                str(dict(zip(self.campaign_features, a, strict=True))) for a in self.arms
            )
            raise InvalidArgument(
                f"{where} {dict(features)} is not a campaign model version {self.version} "
                f"({self.schema.get('learner', '')}, a model per arm) was trained on; its arms: "
                f"{known}"
            )


def _arms(schema: Mapping[str, Any]) -> frozenset[tuple[Any, ...]]:
    kinds = schema["campaign"]
    return frozenset(
        tuple(
            float(np.float32(a["features"][c])) if kind == "numeric" else str(a["features"][c])
            for c, kind in kinds.items()
        )
        for a in schema.get("arms", [])
    )


def _session_options() -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One thread per run: throughput comes from several requests and processes, and more
    # intra-op threads only contend on a 2-core machine.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return opts


def load_model(version: ModelVersion) -> LoadedModel:
    """Reads, verifies (sha256, schema against graph) and loads one version; ModelError if not."""
    path = Path(version.artifact_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model version {version.version}: cannot read {path}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != version.sha256:
        raise ModelError(
            f"model version {version.version}: artifact {path} sha256 {digest[:12]}... does not "
            f"match the registered {version.sha256[:12]}..."
        )
    try:
        session = ort.InferenceSession(
            data, sess_options=_session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelError(f"model version {version.version}: onnxruntime refused it: {exc}") from exc
    schema = version.feature_schema
    model = LoadedModel(
        version=str(version.version),
        session=session,
        user_features=dict(schema["user"]),
        campaign_features=dict(schema["campaign"]),
        control=dict(schema["control"]),
        targets=tuple(version.targets),
        campaign_categories={
            col: frozenset(values) for col, values in schema.get("campaign_categories", {}).items()
        },
        revenue=tuple(schema.get("revenue", {})),
        schema=dict(schema),
        heads=tuple(t for t, n in schema.get("heads", {}).items() if n),
        arms=_arms(schema),
    )
    _check_graph(model, session)
    log.info("loaded model version %s from %s", model.version, path)
    return model


def _check_graph(model: LoadedModel, session: ort.InferenceSession) -> None:
    inputs = {i.name: i.type for i in session.get_inputs()}
    expected = {
        c: ORT_TYPES[k] for c, k in {**model.user_features, **model.campaign_features}.items()
    }
    if inputs != expected:
        raise ModelError(
            f"model version {model.version}: graph inputs {inputs} do not match schema {expected}"
        )
    outputs = {o.name for o in session.get_outputs()}
    expected_outputs = set(all_outputs(model.targets))
    expected_outputs |= {n for r in model.revenue for n in revenue_output_names(r)}
    expected_outputs |= {heads_output_name(t) for t in model.heads}
    missing = expected_outputs - outputs
    if missing:
        raise ModelError(f"model version {model.version}: graph lacks outputs {sorted(missing)}")
    meta = session.get_modelmeta().custom_metadata_map.get(SCHEMA_KEY)
    if meta is not None and json.loads(meta).get("targets") != list(model.targets):
        raise ModelError(f"model version {model.version}: graph targets differ from the registry")
