"""Registering a trained model: the artifact written atomically under its checksum, and the
version recorded with its schema, metrics and lineage (code version, data, recipe)."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from feedback.registry import ModelVersion, register_version
from feedback.store import Store
from trainer.fingerprint import fingerprint_path

if TYPE_CHECKING:
    from trainer.train import TrainedModel

log = logging.getLogger(__name__)


def write_artifact(onnx_bytes: bytes, artifact_dir: Path) -> Path:
    """Writes the artifact atomically under its checksum; identical models share one file."""
    artifact_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    path = artifact_dir / f"model-{digest[:16]}.onnx"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=artifact_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(onnx_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # servers may run as another user than the trainer
        os.replace(tmp, path)
    return path


def code_version() -> str:
    """The package version, and the git commit when the code runs from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = f"campaign-lift {version('campaign-lift')}"
    except PackageNotFoundError:
        text = "campaign-lift (not installed)"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return f"{text} ({commit})" if commit else text


def register(
    store: Store,
    trained: TrainedModel,
    artifact_dir: Path,
    *,
    source: str,
    data: str = "",
    parent_version: int | None = None,
) -> ModelVersion:
    """Writes the artifact and the fingerprint of its training rows, and records the
    version; `source` is "file" or "store"."""
    path = write_artifact(trained.onnx_bytes, artifact_dir)
    fingerprint = trained.fingerprint()
    rows_path = fingerprint_path(path)
    fingerprint.save(rows_path)
    lineage = {
        "source": source,
        "data": data,
        "code_version": code_version(),
        "rows_train": trained.final.rows,
        "rows_holdout": len(trained.holdout),
        "refit_on_all_rows": trained.refit,
        "training_rows": {
            "path": str(rows_path.resolve()),
            "ids": len(fingerprint.ids),
            "contents": len(fingerprint.contents),
        },
        "cleaning": trained.cleaning.as_dict(),
        "parity_max_abs_diff": trained.parity_max_abs_diff,
        "uplift_method": trained.uplift_method,
        "recipe": trained.recipe.as_dict(),
        **trained.extra_lineage,
    }
    version = register_version(
        store,
        artifact_path=str(path.resolve()),
        sha256=trained.sha256,
        family=trained.family,
        feature_schema=trained.schema,
        targets=list(trained.spec.targets),
        metrics=trained.metrics,
        lineage=lineage,
        parent_version=parent_version,
    )
    log.info("registered model version %d (%s, sha256 %s)", version.version, path, trained.sha256)
    return version
