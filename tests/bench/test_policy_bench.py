"""The policy benchmark runs end to end in quick mode (no timing checked): learning policies
beat random on the simulated world, the oracle has no regret, and OPE rows carry the truth."""

from __future__ import annotations

import json
from pathlib import Path

from bench.policy import main


def test_quick_policy_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "policy.json"
    result = main(["--quick", "--no-vw", "--out", str(out)])

    runs = {r["policy"]: r for r in result["runs"]}
    assert runs["oracle (knows the truth)"]["regret"] == 0.0
    assert runs["oracle (knows the truth)"]["gain_share"] == 1.0
    (single,) = [r for name, r in runs.items() if name.startswith("best single campaign: ")]
    assert abs(single["gain_share"]) < 1e-9  # the reference every learned policy must beat
    random_regret = runs["uniform random"]["regret_per_decision"]
    for name in ("epsilon-greedy 0.1 (model uplift)", "linucb (context + model)"):
        assert runs[name]["regret_per_decision"] < random_regret, name
    assert all(r["decisions"] == 2_000 for r in runs.values())
    ope = {row["policy"]: row for row in result["ope"]}
    assert set(ope) == set(runs) - {"uniform random"}
    for row in ope.values():
        assert 0.0 < row["true_value"] < 1.0
        assert {"ips", "snips", "dm", "dr"} <= set(row)
    assert json.loads(out.read_text())["runs"] == result["runs"]
