"""ONNX export: every target's pipeline, and its uplift, composed into ONE graph; parity-checked.

The graph takes the raw features (one [N, 1] input per column) and returns, per target t,
`t_probability` (with the campaign), `t_control_probability` (campaign features replaced by the
spec's control values inside the graph) and `t_uplift` (their difference). The server feeds raw
features and reads these outputs: no feature code is re-implemented at serving time.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from common.errors import ModelError
from common.graph import SCHEMA_KEY, heads_output_name, output_names, revenue_output_names
from trainer.arms import Arms
from trainer.spec import FeatureSpec, user_only

if TYPE_CHECKING:
    from trainer.learners.base import FittedTarget
    from trainer.revenue import RevenueFit

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


class GraphBuilder:
    """Builds the served graph: raw inputs (one [N, 1] column per feature), each input doubled
    to 2N rows (as sent, then with the campaign features replaced by the spec's control values)
    so that one run of a converted pipeline scores both, and the outputs sliced back into
    N-row halves (common.graph's output contract)."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = [
            helper.make_tensor("zero_1d", TensorProto.INT64, [1], [0]),
            helper.make_tensor("one_1d", TensorProto.INT64, [1], [1]),
            helper.make_tensor("int64_max_1d", TensorProto.INT64, [1], [np.iinfo(np.int64).max]),
            helper.make_tensor("positive_index", TensorProto.INT64, [], [1]),
        ]
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.opsets: dict[str, int] = {}
        self._arms: Arms | None = None
        self._codes: dict[str, list[str]] = {}
        # While an ensemble adds its members, their outputs stay inside the graph.
        self.hidden = False
        self._double_inputs()

    def _node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    def _double_inputs(self) -> None:
        spec = self.spec
        first = next(iter(spec.features))
        self._node("Shape", [first], ["rows_shape"])
        self._node("Slice", ["rows_shape", "zero_1d", "one_1d"], ["n_rows"])
        for col, kind in spec.features.items():
            dtype = TensorProto.FLOAT if kind == "numeric" else TensorProto.STRING
            self.inputs.append(helper.make_tensor_value_info(col, dtype, [None, 1]))
            if col not in spec.campaign_features:
                self._node("Concat", [col, col], [f"{col}__both"], axis=0)
                continue
            self.inits.append(_control_const(col, kind, spec.control[col]))
            self._node("Shape", [col], [f"{col}__shape"])
            self._node("Expand", [f"{col}__control_value", f"{col}__shape"], [f"{col}__control"])
            self._node("Concat", [col, f"{col}__control"], [f"{col}__both"], axis=0)

    def add_pipeline(self, pipeline: Pipeline, prefix: str, spec: FeatureSpec | None = None) -> str:
        """Adds a converted pipeline; returns its first output's name. By default it reads
        every feature, doubled (2N rows); with a `spec` of user features only (per-arm models)
        it reads those columns as sent (N rows)."""
        features = (spec or self.spec).features
        sub = onnx.compose.add_prefix(_convert_one(pipeline, spec or self.spec), prefix)
        for op in sub.opset_import:
            self.opsets[op.domain] = max(self.opsets.get(op.domain, 0), op.version)
        # skl2onnx may rename an input (e.g. "user-item_affinity_0" becomes
        # "user_item_affinity_0"); its inputs come in the order of the initial types, which is
        # the order of the spec's features.
        suffix = "__both" if spec is None else ""
        for col, graph_input in zip(features, sub.graph.input, strict=True):
            self._node("Identity", [f"{col}{suffix}"], [graph_input.name])
        self.nodes.extend(sub.graph.node)
        self.inits.extend(sub.graph.initializer)
        return str(sub.graph.output[0].name)

    def halves(self, both: str, treated: str, control: str) -> None:
        """Splits a 2N-row column into the rows as sent and the control rows."""
        self._node("Slice", [both, "zero_1d", "n_rows"], [treated])
        self._node("Slice", [both, "n_rows", "int64_max_1d"], [control])

    def regression(self, pipeline: Pipeline, prefix: str, treated: str, control: str) -> None:
        """A regressor's predictions on both halves."""
        raw = self.add_pipeline(pipeline, prefix)
        self._node("Squeeze", [raw, "one_1d"], [f"{prefix}all"])
        self.halves(f"{prefix}all", treated, control)

    def output(self, *names: str) -> None:
        """Makes these values graph outputs (unless an ensemble's member is being added)."""
        if self.hidden:
            return
        self.outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None]) for n in names]

    def target(self, target: str, pipeline: Pipeline, effect: Pipeline | None) -> None:
        """A target's probability with and without the campaign, and its uplift: their
        difference (S-learner), or an effect regressor's own (with minus without)."""
        p_name, c_name, u_name = output_names(target)
        self.add_pipeline(pipeline, f"{target}__")
        probs = f"{target}__probabilities"
        self._node("Gather", [probs, "positive_index"], [f"{target}__p_all"], axis=1)
        self.halves(f"{target}__p_all", p_name, c_name)
        if effect is None:
            self._node("Sub", [p_name, c_name], [u_name])
        else:
            prefix = f"{target}__effect__"
            self.regression(effect, prefix, f"{prefix}treated", f"{prefix}control")
            self._node("Sub", [f"{prefix}treated", f"{prefix}control"], [u_name])
        self.output(p_name, c_name, u_name)

    def s_uplift(self, prefix: str, response: Pipeline, effect: Pipeline | None = None) -> str:
        """An S-learner's uplift alone (a bootstrap head): [N] named `prefix`uplift."""
        if effect is not None:
            self.regression(effect, f"{prefix}effect__", f"{prefix}p", f"{prefix}c")
        else:
            self.add_pipeline(response, prefix)
            probs = f"{prefix}probabilities"
            self._node("Gather", [probs, "positive_index"], [f"{prefix}p_all"], axis=1)
            self.halves(f"{prefix}p_all", f"{prefix}p", f"{prefix}c")
        self._node("Sub", [f"{prefix}p", f"{prefix}c"], [f"{prefix}uplift"])
        return f"{prefix}uplift"

    def arm_matrix(self, arms: Arms) -> str:
        """[N, K] float: 1 where a row's campaign features are arm k's (built once)."""
        name = "arms__onehot"
        if self._arms is not None:
            return name
        self._arms = arms
        spec = self.spec
        codes: dict[str, str] = {}
        for col, kind in spec.campaign_features.items():
            if kind == "numeric":
                codes[col] = col
                continue
            # Strings compare as codes: ONNX's string Equal needs opset 19, ours is 17.
            values = sorted({str(f[col]).strip() for f in arms.features})
            self.opsets["ai.onnx.ml"] = max(self.opsets.get("ai.onnx.ml", 0), ML_OPSET)
            self.nodes.append(
                helper.make_node(
                    "LabelEncoder",
                    [col],
                    [f"{col}__code"],
                    domain="ai.onnx.ml",
                    keys_strings=values,
                    values_int64s=list(range(len(values))),
                    default_int64=-1,
                )
            )
            codes[col] = f"{col}__code"
            self._codes[col] = values
        columns = []
        for a, features in enumerate(arms.features):
            matches = []
            for col, kind in spec.campaign_features.items():
                const = f"arm{a}__{col}__value"
                if kind == "numeric":
                    value = helper.make_tensor(const, TensorProto.FLOAT, [], [float(features[col])])
                else:
                    code = self._codes[col].index(str(features[col]).strip())
                    value = helper.make_tensor(const, TensorProto.INT64, [], [code])
                self.inits.append(value)
                self._node("Equal", [codes[col], const], [f"arm{a}__{col}__eq"])
                self._node(
                    "Cast", [f"arm{a}__{col}__eq"], [f"arm{a}__{col}__is"], to=TensorProto.FLOAT
                )
                matches.append(f"arm{a}__{col}__is")
            self._product(matches, f"arm{a}__is")
            columns.append(f"arm{a}__is")
        self._node("Concat", columns, [name], axis=1)
        return name

    def _product(self, names: list[str], out: str) -> None:
        if len(names) == 1:
            self._node("Identity", names, [out])
            return
        current = names[0]
        for i, nxt in enumerate(names[1:]):
            product = out if i == len(names) - 2 else f"{out}__{i}"
            self._node("Mul", [current, nxt], [product])
            current = product

    def _user_column(self, pipeline: Pipeline, prefix: str, *, proba: bool) -> str:
        """A per-arm model on the user features as sent: an [N, 1] column."""
        raw = self.add_pipeline(pipeline, prefix, user_only(self.spec))
        if not proba:
            return raw  # regressors give [N, 1]
        probs = f"{prefix}probabilities"
        self._node("Gather", [probs, "one_1d"], [f"{prefix}p"], axis=1)
        return f"{prefix}p"

    def _select(self, matrix: str, out: str) -> None:
        """[N]: each row's entry of `matrix` [N, K] at its arm."""
        self._node("Mul", [self.arm_matrix_name, matrix], [f"{out}__masked"])
        self._node("ReduceSum", [f"{out}__masked", "one_1d"], [out], keepdims=0)

    arm_matrix_name = "arms__onehot"

    def _arm_columns(
        self, prefix: str, arms: Arms, outcomes: list[Pipeline], effects: list[list[Any]]
    ) -> tuple[str, str]:
        """([N, K] probability per arm, [N, K] uplift per arm) of a per-arm fit."""
        self.arm_matrix(arms)
        probs = [
            self._user_column(m, f"{prefix}arm{a}__", proba=True) for a, m in enumerate(outcomes)
        ]
        self._node("Concat", probs, [f"{prefix}p_arms"], axis=1)
        control = probs[arms.control]
        uplifts = []
        for a in range(arms.k):
            name = f"{prefix}arm{a}__uplift"
            if a == arms.control:
                self._node("Sub", [control, control], [name])
            elif not effects[a]:
                self._node("Sub", [probs[a], control], [name])
            else:
                self._weighted(prefix, a, effects[a], name)
            uplifts.append(name)
        self._node("Concat", uplifts, [f"{prefix}u_arms"], axis=1)
        return f"{prefix}p_arms", control

    def _weighted(self, prefix: str, a: int, terms: list[Any], out: str) -> None:
        parts = []
        for j, (weight, regressor) in enumerate(terms):
            column = self._user_column(regressor, f"{prefix}arm{a}__tau{j}__", proba=False)
            w = f"{prefix}arm{a}__w{j}"
            self.inits.append(helper.make_tensor(w, TensorProto.FLOAT, [], [float(weight)]))
            self._node("Mul", [column, w], [f"{w}__term"])
            parts.append(f"{w}__term")
        total = parts[0]
        for j, part in enumerate(parts[1:]):
            nxt = out if j == len(parts) - 2 else f"{out}__sum{j}"
            self._node("Add", [total, part], [nxt])
            total = nxt
        if len(parts) == 1:
            self._node("Identity", [total], [out])

    def per_arm_target(
        self, target: str, arms: Arms, outcomes: list[Pipeline], effects: list[list[Any]]
    ) -> None:
        """A per-arm learner's outputs: mu of the row's arm, mu of the control, and the
        learner's uplift of the row's arm (0 for the control)."""
        p_name, c_name, u_name = output_names(target)
        p_arms, control = self._arm_columns(f"{target}__", arms, outcomes, effects)
        self._select(p_arms, p_name)
        self._node("Squeeze", [control, "one_1d"], [c_name])
        self._select(f"{target}__u_arms", u_name)
        # The hurdle of a revenue column multiplies with both halves, as for the S-learner.
        self._node("Concat", [p_name, c_name], [f"{target}__p_all"], axis=0)
        self.output(p_name, c_name, u_name)

    def per_arm_uplift(
        self, prefix: str, arms: Arms, outcomes: list[Pipeline], effects: list[list[Any]]
    ) -> str:
        """Only a per-arm fit's uplift of each row's arm (a bootstrap head): [N]."""
        self._arm_columns(prefix, arms, outcomes, effects)
        self._select(f"{prefix}u_arms", f"{prefix}uplift")
        return f"{prefix}uplift"

    def ensemble(self, target: str, members: list[tuple[float, Any]]) -> None:
        """A weighted average of fitted members' probability, control probability and uplift
        (each member added under its own name, its outputs kept inside)."""
        names = output_names(target)
        parts: list[list[str]] = [[], [], []]
        self.hidden = True
        try:
            for m, (weight, member) in enumerate(members):
                pseudo = f"{target}__m{m}"
                member.emit(self, pseudo)
                w = f"{pseudo}__weight"
                self.inits.append(helper.make_tensor(w, TensorProto.FLOAT, [], [float(weight)]))
                for i, name in enumerate(output_names(pseudo)):
                    self._node("Mul", [name, w], [f"{name}__weighted"])
                    parts[i].append(f"{name}__weighted")
        finally:
            self.hidden = False
        for out, terms in zip(names, parts, strict=True):
            self._sum(terms, out)
        self._node("Concat", [names[0], names[1]], [f"{target}__p_all"], axis=0)
        self.output(*names)

    def constant(self, name: str, value: float) -> None:
        self.inits.append(helper.make_tensor(name, TensorProto.FLOAT, [], [float(value)]))

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self._node(op, inputs, outputs, **attrs)

    def sum(self, terms: list[str], out: str) -> None:
        """`out` = the sum of `terms` (a chain of Add)."""
        self._sum(terms, out)

    def _sum(self, terms: list[str], out: str) -> None:
        if len(terms) == 1:
            self._node("Identity", terms, [out])
            return
        total = terms[0]
        for i, term in enumerate(terms[1:]):
            nxt = out if i == len(terms) - 2 else f"{out}__sum{i}"
            self._node("Add", [total, term], [nxt])
            total = nxt

    def heads(self, target: str, columns: list[str]) -> None:
        """`<target>_uplift_heads` [N, H] from the heads' [N] uplift columns."""
        unsqueezed = []
        for h, column in enumerate(columns):
            self._node("Unsqueeze", [column, "one_1d"], [f"{target}__heads_{h}"])
            unsqueezed.append(f"{target}__heads_{h}")
        name = heads_output_name(target)
        self._node("Concat", unsqueezed, [name], axis=1)
        self.outputs.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, len(columns)])
        )

    def revenue(self, column: str, spend: Pipeline, hurdle: str | None = None) -> None:
        """The hurdle model of a revenue column: P(its target) x E[revenue | target], with and
        without the campaign, and their difference (common.graph.revenue_output_names).
        `hurdle`: the target whose probability it multiplies (an ensemble member's)."""
        hurdle = hurdle or self.spec.revenue[column]
        prefix = f"{column}__spend__"
        raw = self.add_pipeline(spend, prefix)
        expected, control_expected, uplift = revenue_output_names(column)
        self._node("Squeeze", [raw, "one_1d"], [f"{prefix}all"])
        self._node("Mul", [f"{hurdle}__p_all", f"{prefix}all"], [f"{prefix}expected"])
        self.halves(f"{prefix}expected", expected, control_expected)
        self._node("Sub", [expected, control_expected], [uplift])
        self.output(expected, control_expected, uplift)

    def per_arm_revenue(
        self, column: str, arms: Arms, regressors: list[Pipeline], hurdle: str | None = None
    ) -> None:
        """The hurdle model with a regressor of the amount per arm: mu_a x s_a of the row's
        arm, of the control, and their difference."""
        hurdle = hurdle or self.spec.revenue[column]
        prefix = f"{column}__spend__"
        amounts = [
            self._user_column(r, f"{prefix}arm{a}__", proba=False) for a, r in enumerate(regressors)
        ]
        self._node("Concat", amounts, [f"{prefix}s_arms"], axis=1)
        self._node("Mul", [f"{hurdle}__p_arms", f"{prefix}s_arms"], [f"{prefix}v_arms"])
        expected, control_expected, uplift = revenue_output_names(column)
        self._select(f"{prefix}v_arms", expected)
        index = f"{prefix}control_index"
        self.inits.append(helper.make_tensor(index, TensorProto.INT64, [1], [arms.control]))
        self._node("Gather", [f"{prefix}v_arms", index], [f"{prefix}v_control"], axis=1)
        self._node("Squeeze", [f"{prefix}v_control", "one_1d"], [control_expected])
        self._node("Sub", [expected, control_expected], [uplift])
        self.output(expected, control_expected, uplift)

    def revenue_ensemble(self, column: str, members: list[tuple[float, Any]], hurdle: str) -> None:
        """The weighted average of the members' revenue outputs, each member's amount model
        multiplying its own hurdle probability (the ensemble's members are `hurdle`__m<i>)."""
        parts: list[list[str]] = [[], []]
        self.hidden = True
        try:
            for m, (weight, member) in enumerate(members):
                pseudo = f"{column}__m{m}"
                member.emit(self, hurdle=f"{hurdle}__m{m}", column=pseudo)
                self.constant(f"{pseudo}__weight", weight)
                for i, name in enumerate(revenue_output_names(pseudo)[:2]):
                    self._node("Mul", [name, f"{pseudo}__weight"], [f"{name}__weighted"])
                    parts[i].append(f"{name}__weighted")
        finally:
            self.hidden = False
        expected, control_expected, uplift = revenue_output_names(column)
        self._sum(parts[0], expected)
        self._sum(parts[1], control_expected)
        self._node("Sub", [expected, control_expected], [uplift])
        self.output(expected, control_expected, uplift)

    def build(self, targets: list[str]) -> onnx.ModelProto:
        used = {name for node in self.nodes for name in node.input}
        inits = [i for i in self.inits if i.name in used]  # unused ones: warnings at load
        graph = helper.make_graph(self.nodes, "campaign_lift", self.inputs, self.outputs, inits)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(self.opsets.items())],
            producer_name="campaign-lift",
        )
        model.ir_version = min(model.ir_version, 10)
        schema = {**self.spec.schema(), "targets": targets}
        helper.set_model_props(model, {SCHEMA_KEY: json.dumps(schema, sort_keys=True)})
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise ModelError(f"composed ONNX graph is invalid: {exc}") from exc
        return model


def compose_fitted(
    fitted: Mapping[str, FittedTarget],
    spec: FeatureSpec,
    revenue: Mapping[str, RevenueFit] | None = None,
    heads: Mapping[str, Sequence[FittedTarget]] | None = None,
) -> onnx.ModelProto:
    """One graph: each target's fitted learner's outputs, each target's bootstrap heads'
    uplifts, and each revenue column's hurdle outputs (a regressor of the column fitted on the
    rows where its hurdle target, spec.revenue[column], is 1)."""
    builder = GraphBuilder(spec)
    for target, fit in fitted.items():
        fit.emit(builder, target)
    for target, fits in (heads or {}).items():
        columns = [h.emit_uplift(builder, f"{target}__head{i}__") for i, h in enumerate(fits)]
        builder.heads(target, columns)
    for amounts in (revenue or {}).values():
        amounts.emit(builder)
    return builder.build(list(fitted))


def _pooled(revenue: Mapping[str, Pipeline] | None, spec: FeatureSpec) -> dict[str, RevenueFit]:
    from trainer.revenue import PooledRevenue

    return {c: PooledRevenue(spec, c, p) for c, p in (revenue or {}).items()}


def _s_fits(
    pipelines: Mapping[str, Pipeline], spec: FeatureSpec, effects: Mapping[str, Pipeline] | None
) -> dict[str, FittedTarget]:
    from trainer.learners.s_learner import SLearnerFit

    return {t: SLearnerFit(spec, "", p, (effects or {}).get(t)) for t, p in pipelines.items()}


def compose(
    pipelines: Mapping[str, Pipeline],
    spec: FeatureSpec,
    effects: Mapping[str, Pipeline] | None = None,
    revenue: Mapping[str, Pipeline] | None = None,
) -> onnx.ModelProto:
    """compose_fitted of S-learner response pipelines (with transformed-outcome `effects`)."""
    return compose_fitted(_s_fits(pipelines, spec, effects), spec, _pooled(revenue, spec))


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


def expected_outputs(
    fitted: Mapping[str, FittedTarget],
    df: pd.DataFrame,
    spec: FeatureSpec,
    revenue: Mapping[str, RevenueFit] | None = None,
    heads: Mapping[str, Sequence[FittedTarget]] | None = None,
) -> dict[str, np.ndarray]:
    """What the graph of compose_fitted must output for `df`, computed by scikit-learn."""
    out = {}
    for target, fit in fitted.items():
        served = fit.served(df)
        p_name, c_name, u_name = output_names(target)
        out[p_name], out[c_name] = served["probability"], served["control"]
        out[u_name] = served["uplift"]
    for target, fits in (heads or {}).items():
        out[heads_output_name(target)] = np.column_stack([h.served(df)["uplift"] for h in fits])
    for column, amounts in (revenue or {}).items():
        expected, control_expected, uplift = revenue_output_names(column)
        out[expected], out[control_expected] = amounts.expected(fitted[spec.revenue[column]], df)
        out[uplift] = out[expected] - out[control_expected]
    return out


def parity(
    model_bytes: bytes,
    expected: Mapping[str, np.ndarray],
    df: pd.DataFrame,
    spec: FeatureSpec,
    revenue: Mapping[str, RevenueFit] | None = None,
    tolerance: float = PARITY_TOLERANCE,
) -> float:
    """Max |scikit-learn - onnxruntime| over every output on `df`; refuses the export above
    tolerance.

    Revenue outputs are probabilities times amounts: their difference is divided by the
    largest predicted amount (at least 1), so a float32 rounding of the probability does not
    count as disagreement just because the currency unit is small."""
    got = predict_onnx(session_for(model_bytes), df, spec)
    scale = {
        name: max(1.0, amounts.scale(df))
        for r, amounts in (revenue or {}).items()
        for name in revenue_output_names(r)
    }

    def gap(name: str) -> float:
        diff = np.abs(np.asarray(got[name]) - expected[name]) / scale.get(name, 1.0)
        return float(np.max(diff, initial=0.0))

    worst = max(gap(k) for k in expected)
    if not worst <= tolerance:
        raise ModelError(
            f"ONNX parity check failed: max |sklearn - onnxruntime| = {worst:.3g} > {tolerance:g}"
        )
    return worst


def check_parity(
    model_bytes: bytes,
    pipelines: Mapping[str, Pipeline],
    df: pd.DataFrame,
    spec: FeatureSpec,
    tolerance: float = PARITY_TOLERANCE,
    effects: Mapping[str, Pipeline] | None = None,
    revenue: Mapping[str, Pipeline] | None = None,
) -> float:
    """parity() of the graph of S-learner response pipelines (compose)."""
    pooled = _pooled(revenue, spec)
    expected = expected_outputs(_s_fits(pipelines, spec, effects), df, spec, pooled)
    return parity(model_bytes, expected, df, spec, pooled, tolerance)
