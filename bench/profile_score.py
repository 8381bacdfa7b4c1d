"""Score's handler chain in process, transport-free: request bytes -> converters.score_item ->
Scorer.score -> converters.score_response -> bytes, 1 user x N candidates, inline and by
catalogue id; p50 of each, then cProfile of the by-id path (docs/benchmarks.md).

    python -m bench.profile_score [--family hgb] [--candidates 100] [--calls 1000]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.context import CAMPAIGN_TYPES, SPEC
from clients.client import UserRequest, score_request
from clients.simulator import World
from common.settings import Settings
from feedback.catalogue import Campaign, put_campaign
from feedback.registry import PRODUCTION, set_stage
from feedback.store import open_store
from protos.campaignlift.v1 import scoring_pb2
from server.handlers.scoring import Scorer
from server.rpc.converters.scoring import score_item, score_response
from server.runtime.catalogue import CatalogueCache
from server.runtime.decision_log import DecisionLog
from server.runtime.models import ModelManager
from trainer.spec import FeatureSpec
from trainer.train import register, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="hgb")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)
    world = World(n_users=500, seed=1)
    trained = train(world.history(4000, seed=1), FeatureSpec.load(SPEC), family=args.family)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/store.db")
        version = register(store, trained, Path(tmp) / "artifacts", source="bench")
        set_stage(store, PRODUCTION, version.version, actor="bench")
        settings = Settings(database_url=store.url, artifact_dir=Path(tmp) / "artifacts")
        models = ModelManager(store)
        models.refresh()
        decisions = DecisionLog(store, flush_interval_s=0.05, max_queue=100_000)
        rng = np.random.default_rng(0)
        campaigns: list[tuple[str, dict[str, float | int | str]]] = [
            (
                f"c{j}",
                {
                    "campaign_type": CAMPAIGN_TYPES[j % len(CAMPAIGN_TYPES)],
                    "discount_pct": float(rng.integers(0, 40)),
                    "duration_days": float(rng.integers(1, 15)),
                },
            )
            for j in range(args.candidates)
        ]
        for cid, features in campaigns:
            put_campaign(store, Campaign(cid, features))
        catalogue = CatalogueCache(store)
        scorer = Scorer(models, store, decisions, settings, catalogue=catalogue)
        unit, user = world.users.unit_id.iat[0], world.user_features(0)
        requests = {
            "inline": UserRequest(unit, user, candidates=campaigns),
            "by id": UserRequest(unit, user, campaign_ids=[c for c, _ in campaigns]),
        }
        raw = {k: score_request(r).SerializeToString() for k, r in requests.items()}

        def call(data: bytes) -> bytes:
            (result,) = scorer.score([score_item(scoring_pb2.ScoreRequest.FromString(data))])
            return bytes(score_response(result).SerializeToString())

        for name, data in raw.items():
            for _ in range(200):
                call(data)
            times = []
            for _ in range(args.calls):
                began = time.perf_counter()
                call(data)
                times.append(time.perf_counter() - began)
            print(f"{name}: p50 {np.percentile(times, 50) * 1e3:.3f} ms over {args.calls} calls")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            call(raw["by id"])
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        decisions.close()
        store.dispose()


if __name__ == "__main__":
    main()
