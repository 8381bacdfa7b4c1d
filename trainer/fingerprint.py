"""Which rows a model version trained on: a fingerprint of 64-bit hashes kept beside its
artifact, so that a promotion gate can compare versions on logged decisions *neither* trained
on — whenever, and however, those rows reached the store (a file imported after training keeps
its rows' ids, or at least their contents).

A row is keyed by its id when the data has one (the store's decision id, a file's row id
column), and by its content otherwise: the user features and the campaign features, normalized
as the model sees them (float32 numbers, stripped text, missing as one token). A decision is
"seen" by a version when its id's hash or its content's hash is in the fingerprint.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.spec import FeatureSpec

MISSING = "\x00"


def _token(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if kind == "numeric":
        try:
            return repr(float(np.float32(value)))
        except (TypeError, ValueError):
            return MISSING
    text = str(value).strip()
    return text or MISSING


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def id_hashes(ids: pd.Series | list[str]) -> np.ndarray:
    return np.array([_hash("id\x1f" + str(i)) for i in ids], dtype=np.uint64)


def content_hashes(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """One hash per row of its user and campaign features."""
    kinds = spec.features
    columns = [[_token(v, kind) for v in frame[c]] for c, kind in kinds.items()]
    return np.array(
        [_hash("row\x1f" + "\x1f".join(parts)) for parts in zip(*columns, strict=True)],
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class Fingerprint:
    """Sorted unique hashes of a version's training rows (ids, or contents without ids)."""

    ids: np.ndarray
    contents: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, spec: FeatureSpec) -> Fingerprint:
        if spec.row_id and spec.row_id in frame.columns:
            ids = frame[spec.row_id].astype("string").fillna("").str.strip()
            if (ids != "").all():
                return cls(np.unique(id_hashes(ids.tolist())), np.zeros(0, dtype=np.uint64))
        return cls(np.zeros(0, dtype=np.uint64), np.unique(content_hashes(frame, spec)))

    def seen(self, ids: np.ndarray, contents: np.ndarray) -> np.ndarray:
        """Per row (its id hash and content hash): whether this version trained on it."""
        return np.isin(ids, self.ids) | np.isin(contents, self.contents)

    def save(self, path: Path) -> None:
        with path.open("wb") as fh:
            np.savez_compressed(fh, ids=self.ids, contents=self.contents)

    @classmethod
    def load(cls, path: Path) -> Fingerprint:
        with np.load(path) as data:
            return cls(data["ids"], data["contents"])

    @property
    def rows(self) -> int:
        return len(self.ids) + len(self.contents)


def fingerprint_path(artifact: Path) -> Path:
    """Where a version's fingerprint lives: beside its artifact."""
    return artifact.with_suffix(".rows.npz")
