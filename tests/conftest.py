"""Shared fixtures: real stores (SQLite in a temp dir; PostgreSQL when a URL is set, always in CI),
small real models exported to ONNX, and a real server on a free loopback port."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from clients.simulator import World
from common.settings import Settings
from feedback.registry import PRODUCTION, ModelVersion, set_stage
from feedback.store import Store, open_store
from trainer.spec import FeatureSpec
from trainer.train import TrainedModel, register, train

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
SIM_SPEC = ROOT / "specs" / "simulated.toml"
POSTGRES_URL = os.environ.get("CAMPAIGN_LIFT_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_shared_data(relative: str) -> Path:
    """The path under ../shared/data; skips outside CI when absent, fails in CI."""
    path = SHARED_DATA / relative
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is required in CI but absent")
        pytest.skip(f"{path} is absent (real data lives in ../shared/data beside the project)")
    return path


def _postgres_store() -> Store:
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI must run the PostgreSQL tests: set CAMPAIGN_LIFT_TEST_POSTGRES_URL")
        pytest.skip("CAMPAIGN_LIFT_TEST_POSTGRES_URL is not set")
    store = Store(POSTGRES_URL)
    try:
        store.drop_schema()
        store.create_schema()
    except Exception as exc:
        store.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store on each backend."""
    s = (
        open_store(f"sqlite:///{tmp_path / 'store.db'}")
        if request.param == "sqlite"
        else _postgres_store()
    )
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.dispose()


@pytest.fixture(scope="session")
def world() -> World:
    return World(n_users=2_000, seed=5)


@pytest.fixture(scope="session")
def sim_spec() -> FeatureSpec:
    return FeatureSpec.load(SIM_SPEC)


@pytest.fixture(scope="session")
def history(world: World):  # type: ignore[no-untyped-def]
    return world.history(4_000, seed=2)


@pytest.fixture(scope="session")
def trained_logreg(history, sim_spec: FeatureSpec) -> TrainedModel:  # type: ignore[no-untyped-def]
    return train(history, sim_spec, family="logreg")


def promote_new(store: Store, trained: TrainedModel, artifact_dir: Path) -> ModelVersion:
    version = register(store, trained, artifact_dir, source="test")
    set_stage(store, PRODUCTION, version.version, actor="test")
    return version


def server_settings(store: Store, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": store.url,
        "artifact_dir": tmp_path / "artifacts",
        "port": 0,
        "model_poll_interval_s": 0.2,
        "grpc_workers": 4,
        "metrics_port": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def retrain_worker_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real retrain worker (`python -m trainer.worker`) with these settings, its output in
    `log`; stopped with SIGTERM at the end."""
    from server.runtime.supervisor import WORKER_COMMAND, settings_env

    with log.open("wb") as out:
        process = subprocess.Popen(
            list(WORKER_COMMAND),
            env=settings_env(settings, retrain_poll_interval_s=0.2),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
