"""The benchmark model for the peer server: the trainer's own scikit-learn pipelines, computing
what our ONNX graph computes (per target: probability with the campaign, with the control
campaign, and the uplift). Imported by MLServer's process in its own venv: only numpy, pandas
and scikit-learn here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class UpliftPipelines:
    """predict_proba(X) -> columns [t_probability, t_control_probability, t_uplift] per target."""

    def __init__(self, pipelines: dict[str, Any], control: dict[str, Any]) -> None:
        self.pipelines = pipelines
        self.control = control

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        controlled = x.assign(**self.control)
        out = []
        for pipeline in self.pipelines.values():
            p = pipeline.predict_proba(x)[:, 1]
            c = pipeline.predict_proba(controlled)[:, 1]
            out.extend([p, c, p - c])
        return np.column_stack(out).astype(np.float32)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(x)
