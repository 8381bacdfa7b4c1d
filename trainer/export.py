"""ONNX export: every target's pipeline, and its uplift, composed into ONE graph; parity-checked.

The graph takes the raw features (one [N, 1] input per column) and returns, per target t,
`t_probability` (with the campaign), `t_control_probability` (campaign features replaced by the
spec's control values inside the graph) and `t_uplift` (their difference). The server feeds raw
features and reads these outputs: no feature code is re-implemented at serving time.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from common.errors import ModelError
from common.graph import SCHEMA_KEY, output_names, revenue_output_names
from trainer.data import with_control
from trainer.spec import FeatureSpec

TARGET_OPSET = 17
ML_OPSET = 3
PARITY_TOLERANCE = 1e-5


def _initial_types(spec: FeatureSpec) -> list[tuple[str, Any]]:
    return [
        (col, FloatTensorType([None, 1]) if kind == "numeric" else StringTensorType([None, 1]))
        for col, kind in spec.features.items()
    ]


def _convert_one(pipeline: Pipeline, spec: FeatureSpec) -> onnx.ModelProto:
    try:
        with warnings.catch_warnings():
            # skl2onnx's tree converters hand booleans to an ints attribute: a warning under
            # protobuf 6 (pinned for this reason), an error under protobuf 7.
            warnings.filterwarnings("ignore", message="Field onnx.AttributeProto.ints")
            return convert_sklearn(  # type: ignore[no-any-return]
                pipeline,
                initial_types=_initial_types(spec),
                options=(
                    {id(pipeline.steps[-1][1]): {"zipmap": False}}
                    if hasattr(pipeline.steps[-1][1], "predict_proba")
                    else None
                ),
                target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET},
            )
    except Exception as exc:  # skl2onnx raises many types; all mean "cannot export"
        raise ModelError(
            f"skl2onnx could not convert {type(pipeline[-1]).__name__}: {exc}"
        ) from exc


def _control_const(col: str, kind: str, value: Any) -> TensorProto:
    if kind == "numeric":
        return helper.make_tensor(
            f"{col}__control_value", TensorProto.FLOAT, [1, 1], [float(value)]
        )
    return helper.make_tensor(
        f"{col}__control_value",
        TensorProto.STRING,
        [1, 1],
        [str(value).encode()],  # type: ignore[list-item]
    )


def _add_submodel(
    nodes: list[onnx.NodeProto],
    inits: list[TensorProto],
    opsets: dict[str, int],
    sub: onnx.ModelProto,
    prefix: str,
    features: Mapping[str, str],
) -> str:
    """Adds a converted pipeline fed the doubled inputs; returns its first output's name."""
    sub = onnx.compose.add_prefix(sub, prefix)
    for op in sub.opset_import:
        opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
    # skl2onnx may rename an input (e.g. "user-item_affinity_0" becomes "user_item_affinity_0");
    # its inputs come in the order of the initial types, which is the order of `features`.
    for col, graph_input in zip(features, sub.graph.input, strict=True):
        nodes.append(helper.make_node("Identity", [f"{col}__both"], [graph_input.name]))
    nodes.extend(sub.graph.node)
    inits.extend(sub.graph.initializer)
    return str(sub.graph.output[0].name)


def compose(
    pipelines: Mapping[str, Pipeline],
    spec: FeatureSpec,
    effects: Mapping[str, Pipeline] | None = None,
    revenue: Mapping[str, Pipeline] | None = None,
) -> onnx.ModelProto:
    """One graph: inputs doubled (as sent, then with control campaign features), each target's
    converted pipeline run once over 2N rows, outputs sliced back into N-row halves.

    Without an effect model, a target's uplift is its probability minus its control
    probability (the S-learner). With one in `effects` (a regressor of the effect itself, e.g.
    trainer.uplift's transformed outcome), the uplift is that regressor's prediction with the
    campaign minus its prediction with the control values, run over the same doubled rows.

    Each revenue column r in `revenue` (a regressor of r fitted on the rows where its hurdle
    target, spec.revenue[r], is 1) adds the hurdle model's outputs: P(hurdle) x E[r | hurdle]
    with and without the campaign, and their difference (common.graph.revenue_output_names).
    """
    effects = effects or {}
    features = spec.features
    first = next(iter(features))
    nodes = [
        helper.make_node("Shape", [first], ["rows_shape"]),
        helper.make_node("Slice", ["rows_shape", "zero_1d", "one_1d"], ["n_rows"]),
    ]
    inits = [
        helper.make_tensor("zero_1d", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one_1d", TensorProto.INT64, [1], [1]),
        helper.make_tensor("int64_max_1d", TensorProto.INT64, [1], [np.iinfo(np.int64).max]),
        helper.make_tensor("positive_index", TensorProto.INT64, [], [1]),
    ]
    inputs = []
    for col, kind in features.items():
        dtype = TensorProto.FLOAT if kind == "numeric" else TensorProto.STRING
        inputs.append(helper.make_tensor_value_info(col, dtype, [None, 1]))
        if col in spec.campaign_features:
            inits.append(_control_const(col, kind, spec.control[col]))
            nodes.append(helper.make_node("Shape", [col], [f"{col}__shape"]))
            nodes.append(
                helper.make_node(
                    "Expand", [f"{col}__control_value", f"{col}__shape"], [f"{col}__control"]
                )
            )
            nodes.append(
                helper.make_node("Concat", [col, f"{col}__control"], [f"{col}__both"], axis=0)
            )
        else:
            nodes.append(helper.make_node("Concat", [col, col], [f"{col}__both"], axis=0))

    outputs = []
    opsets: dict[str, int] = {}
    for target, pipeline in pipelines.items():
        sub = _convert_one(pipeline, spec)
        _add_submodel(nodes, inits, opsets, sub, f"{target}__", features)
        p_name, c_name, u_name = output_names(target)
        probs = f"{target}__probabilities"
        nodes += [
            helper.make_node("Gather", [probs, "positive_index"], [f"{target}__p_all"], axis=1),
            helper.make_node("Slice", [f"{target}__p_all", "zero_1d", "n_rows"], [p_name]),
            helper.make_node("Slice", [f"{target}__p_all", "n_rows", "int64_max_1d"], [c_name]),
        ]
        if target in effects:
            prefix = f"{target}__effect__"
            raw = _add_submodel(
                nodes, inits, opsets, _convert_one(effects[target], spec), prefix, features
            )
            both, treated, control = (f"{prefix}{n}" for n in ("all", "treated", "control"))
            nodes += [
                helper.make_node("Squeeze", [raw, "one_1d"], [both]),
                helper.make_node("Slice", [both, "zero_1d", "n_rows"], [treated]),
                helper.make_node("Slice", [both, "n_rows", "int64_max_1d"], [control]),
                helper.make_node("Sub", [treated, control], [u_name]),
            ]
        else:
            nodes.append(helper.make_node("Sub", [p_name, c_name], [u_name]))
        outputs += [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [None])
            for name in (p_name, c_name, u_name)
        ]
    for column, spend in (revenue or {}).items():
        prefix = f"{column}__spend__"
        raw = _add_submodel(nodes, inits, opsets, _convert_one(spend, spec), prefix, features)
        expected, control_expected, uplift = revenue_output_names(column)
        nodes += [
            helper.make_node("Squeeze", [raw, "one_1d"], [f"{prefix}all"]),
            helper.make_node(
                "Mul", [f"{spec.revenue[column]}__p_all", f"{prefix}all"], [f"{prefix}expected"]
            ),
            helper.make_node("Slice", [f"{prefix}expected", "zero_1d", "n_rows"], [expected]),
            helper.make_node(
                "Slice", [f"{prefix}expected", "n_rows", "int64_max_1d"], [control_expected]
            ),
            helper.make_node("Sub", [expected, control_expected], [uplift]),
        ]
        outputs += [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [None])
            for name in (expected, control_expected, uplift)
        ]
    graph = helper.make_graph(nodes, "campaign_lift", inputs, outputs, inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="campaign-lift",
    )
    model.ir_version = min(model.ir_version, 10)
    schema = {**spec.schema(), "targets": list(pipelines)}
    helper.set_model_props(model, {SCHEMA_KEY: json.dumps(schema, sort_keys=True)})
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"composed ONNX graph is invalid: {exc}") from exc
    return model


def feeds_from_frame(df: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """The graph's inputs from a cleaned frame: [N, 1] float32 or object (string) arrays."""
    feeds = {}
    for col, kind in spec.features.items():
        values = df[col].to_numpy()
        dtype: Any = np.float32 if kind == "numeric" else object
        feeds[col] = values.astype(dtype).reshape(-1, 1)
    return feeds


def session_for(model_bytes: bytes) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"onnxruntime cannot load the model: {exc}") from exc


def predict_onnx(
    session: ort.InferenceSession, df: pd.DataFrame, spec: FeatureSpec
) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds_from_frame(df, spec)), strict=True))


def predict_sklearn(
    pipelines: Mapping[str, Pipeline],
    df: pd.DataFrame,
    spec: FeatureSpec,
    effects: Mapping[str, Pipeline] | None = None,
    revenue: Mapping[str, Pipeline] | None = None,
) -> dict[str, np.ndarray]:
    control = with_control(df, spec)
    x, x_control = df[list(spec.features)], control[list(spec.features)]
    out = {}
    for target, pipeline in pipelines.items():
        p_name, c_name, u_name = output_names(target)
        out[p_name] = pipeline.predict_proba(x)[:, 1]
        out[c_name] = pipeline.predict_proba(x_control)[:, 1]
        if effects and target in effects:
            out[u_name] = effects[target].predict(x) - effects[target].predict(x_control)
        else:
            out[u_name] = out[p_name] - out[c_name]
    for column, spend in (revenue or {}).items():
        expected, control_expected, uplift = revenue_output_names(column)
        p_name, c_name, _ = output_names(spec.revenue[column])
        out[expected] = out[p_name] * spend.predict(x)
        out[control_expected] = out[c_name] * spend.predict(x_control)
        out[uplift] = out[expected] - out[control_expected]
    return out


def check_parity(
    model_bytes: bytes,
    pipelines: Mapping[str, Pipeline],
    df: pd.DataFrame,
    spec: FeatureSpec,
    tolerance: float = PARITY_TOLERANCE,
    effects: Mapping[str, Pipeline] | None = None,
    revenue: Mapping[str, Pipeline] | None = None,
) -> float:
    """Max |sklearn - onnxruntime| over every output on `df`; refuses the export above tolerance.

    Revenue outputs are probabilities times amounts: their difference is divided by the
    largest predicted amount (at least 1), so a float32 rounding of the probability does not
    count as disagreement just because the currency unit is small."""
    expected = predict_sklearn(pipelines, df, spec, effects, revenue)
    got = predict_onnx(session_for(model_bytes), df, spec)
    x = df[list(spec.features)]
    scale = {
        name: max(1.0, float(np.abs(model.predict(x)).max(initial=0.0)))
        for r, model in (revenue or {}).items()
        for name in revenue_output_names(r)
    }

    def gap(name: str) -> float:
        diff = np.abs(got[name] - expected[name]) / scale.get(name, 1.0)
        return float(np.max(diff, initial=0.0))

    worst = max(gap(k) for k in expected)
    if not worst <= tolerance:
        raise ModelError(
            f"ONNX parity check failed: max |sklearn - onnxruntime| = {worst:.3g} > {tolerance:g}"
        )
    return worst
