"""Policy benchmark on the simulator's world with known truth (`make bench-policy`).

Every policy makes the same number of decisions for the same stream of users; rewards are drawn
from the world's true conversion probabilities; learning policies are updated in batches, as the
store's updater does. Printed per policy: mean true conversion rate of the chosen actions,
cumulative regret against the oracle (which knows the truth), and the regret of the last
quarter (what the policy has learned). Peers: Vowpal Wabbit's contextual bandit
(`--cb_explore_adf`) on the same world when `vowpalwabbit` is installed.

Then off-policy evaluation: each learned policy, frozen at the end, is evaluated on the logs of
the uniformly random run (IPS, SNIPS, DM, DR from feedback/ope.py; the model's predictions are
the reward model), next to its true value computed from the world's probabilities.

    python -m bench.policy [--decisions N] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from clients.simulator import CONTROL, World
from feedback.policies import Context, Observation, Policy, build_policy, sample

TARGET = "conversion"
console = Console(width=150) if not Console().is_terminal else Console()


@dataclass
class Tables:
    """Per user and action (last action: no campaign): the model's and the world's view."""

    predicted: np.ndarray  # P(conversion) the model predicts
    uplift: np.ndarray  # predicted minus predicted-without-campaign
    truth: np.ndarray  # the world's P(conversion)
    features: list[dict[str, Any]]  # user features as the server would receive them


def model_tables(world: World, history_rows: int, family: str, seed: int) -> Tables:
    """Trains a model on uniformly logged history, exports it to ONNX, loads it with
    onnxruntime as the server does, and predicts every (user, action) pair."""
    from feedback.store import open_store
    from server.runtime.model import load_model
    from trainer.spec import FeatureSpec
    from trainer.train import register, train

    spec = FeatureSpec.load(Path(__file__).resolve().parent.parent / "specs" / "simulated.toml")
    learner = "auto" if family == "auto" else "s-learner"
    history = world.history(history_rows, seed=seed)
    trained = train(history, spec, family=family, uplift_method=learner, refit=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/store.db")
        version = register(store, trained, Path(tmp) / "artifacts", source="bench")
        model = load_model(version)
        store.dispose()
        users = world.users
        n_users, n_campaigns = len(users), len(world.campaigns)
        feeds: dict[str, np.ndarray] = {}
        for name, kind in model.user_features.items():
            col = users[name].to_numpy()
            col = col.astype(np.float32) if kind == "numeric" else col.astype(object)
            feeds[name] = np.repeat(col, n_campaigns).reshape(-1, 1)
        for name, kind in model.campaign_features.items():
            col = np.array([c.features()[name] for c in world.campaigns])
            col = col.astype(np.float32) if kind == "numeric" else col.astype(object)
            feeds[name] = np.tile(col, n_users).reshape(-1, 1)
        scored = model.predict_all(feeds)[TARGET]
        prob, uplift = scored.value, scored.uplift
    prob = prob.reshape(n_users, n_campaigns).astype(np.float64)
    uplift = uplift.reshape(n_users, n_campaigns).astype(np.float64)
    control = prob[:, :1] - uplift[:, :1]
    truth = np.stack(
        [
            world.truth(TARGET, np.arange(n_users), np.full(n_users, a))
            for a in range(n_campaigns + 1)
        ],
        axis=1,
    )
    features = users.drop(columns=["unit_id"]).to_dict("records")
    return Tables(
        predicted=np.hstack([prob, control]),
        uplift=np.hstack([uplift, np.zeros((n_users, 1))]),
        truth=truth,
        features=features,
    )


@dataclass
class Run:
    policy: str
    decisions: int
    mean_true_rate: float
    conversions: int
    regret: float
    regret_per_decision: float
    last_quarter_regret_per_decision: float
    seconds: float
    # (rate - best single) / (oracle - best single) over all decisions and the last quarter:
    # 0 is everyone getting the one campaign best for these users, 1 the oracle.
    gain_share: float = 0.0
    last_quarter_gain_share: float = 0.0


Chooser = Callable[[int, np.random.Generator], tuple[int, float]]


class OurPolicy:
    """One of feedback/policies policies with its state, updated in batches."""

    def __init__(self, config: dict[str, Any], tables: Tables, ids: list[str]) -> None:
        self.policy: Policy = build_policy(config)
        self.tables = tables
        self.ids = ids
        self.state = self.policy.initial_state()
        self.prepared = self.policy.prepare(self.state)

    def distribution(self, u: int, rng: np.random.Generator) -> np.ndarray:
        t = self.tables
        absolute = self.policy.mode == "absolute"
        values = (t.predicted if absolute else t.uplift)[u, :-1]
        return self.policy.probabilities(
            values,
            self.ids,
            baseline=float(t.predicted[u, -1]) if absolute else 0.0,
            context=Context(absolute=t.predicted[u], user_features=t.features[u]),
            state=self.prepared,
            rng=rng,
        )

    def choose(self, u: int, rng: np.random.Generator) -> tuple[int, float]:
        probs = self.distribution(u, rng)
        a = sample(probs, rng)
        return a, float(probs[a])

    def learn(self, batch: list[tuple[int, int, float]]) -> None:
        if not self.policy.stateful:
            return
        t = self.tables
        keys = [*self.ids, ""]
        observations = [
            Observation(
                arm=keys[a],
                reward=r,
                user_features=t.features[u],
                value=float((t.predicted if self.policy.mode == "absolute" else t.uplift)[u, a]),
                absolute=float(t.predicted[u, a]),
            )
            for u, a, r in batch
        ]
        self.state = self.policy.update(self.state, observations)
        self.prepared = self.policy.prepare(self.state)


class VowpalWabbit:
    """Vowpal Wabbit's contextual bandit (cb_explore_adf, ε-greedy) on the same features."""

    def __init__(self, world: World, tables: Tables, epsilon: float) -> None:
        import vowpalwabbit

        self.vw = vowpalwabbit.Workspace(
            f"--cb_explore_adf --epsilon {epsilon} --quadratic UA --quiet --random_seed 1"
        )
        self.tables = tables
        feats: list[dict[str, Any]] = [c.features() for c in world.campaigns] + [CONTROL]
        self.actions = [
            f"|Action type={f['campaign_type']} discount:{f['discount_pct'] / 10:.3f} "
            f"days:{f['duration_days'] / 10:.3f}"
            for f in feats
        ]

    def _shared(self, u: int) -> str:
        f = self.tables.features[u]
        return (
            f"shared |User age:{f['age'] / 100:.3f} sessions:{f['sessions_30d'] / 10:.3f} "
            f"purchases:{f['past_purchases'] / 10:.3f} aov:{f['avg_order_value'] / 100:.3f} "
            f"gender={f['gender']} region={f['region']}"
        )

    def distribution(self, u: int, rng: np.random.Generator) -> np.ndarray:
        probs = np.asarray(self.vw.predict([self._shared(u), *self.actions]), dtype=np.float64)
        return probs / probs.sum()

    def choose(self, u: int, rng: np.random.Generator) -> tuple[int, float]:
        probs = self.distribution(u, rng)
        a = sample(probs, rng)
        return a, float(probs[a])

    def learn(self, batch: list[tuple[int, int, float, float]]) -> None:  # type: ignore[override]
        for u, a, r, p in batch:
            lines = [self._shared(u)]
            for j, action in enumerate(self.actions):
                label = f"0:{-r}:{p} " if j == a else ""
                lines.append(label + action)
            self.vw.learn(lines)


def simulate(
    name: str,
    agent: Any,
    tables: Tables,
    users: np.ndarray,
    batch_size: int,
    seed: int,
    log: list[tuple[int, int, float, float]] | None = None,
) -> Run:
    rng = np.random.default_rng(seed)
    draws = np.random.default_rng(seed + 1).random(len(users))
    best = tables.truth.max(axis=1)
    regret = np.empty(len(users))
    conversions = 0
    true_rates = np.empty(len(users))
    batch: list[Any] = []
    began = time.perf_counter()
    for i, u in enumerate(users):
        a, p = agent.choose(int(u), rng)
        reward = float(draws[i] < tables.truth[u, a])  # the same draw for every policy
        conversions += int(reward)
        true_rates[i] = tables.truth[u, a]
        regret[i] = best[u] - tables.truth[u, a]
        batch.append(
            (int(u), a, reward, p) if isinstance(agent, VowpalWabbit) else (int(u), a, reward)
        )
        if log is not None:
            log.append((int(u), a, reward, p))
        if len(batch) == batch_size:
            agent.learn(batch)
            batch = []
    seconds = time.perf_counter() - began
    quarter = len(users) // 4
    return Run(
        gain_share=gain_share(tables, users, true_rates),
        last_quarter_gain_share=gain_share(tables, users[-quarter:], true_rates[-quarter:]),
        policy=name,
        decisions=len(users),
        mean_true_rate=float(true_rates.mean()),
        conversions=conversions,
        regret=float(regret.sum()),
        regret_per_decision=float(regret.mean()),
        last_quarter_regret_per_decision=float(regret[-quarter:].mean()),
        seconds=seconds,
    )


def best_single(tables: Tables, users: np.ndarray) -> tuple[int, float]:
    """The one action best for all these users by the truth (what a plain A/B test
    concludes), and its mean true rate on them."""
    means = tables.truth[users].mean(axis=0)
    return int(means.argmax()), float(means.max())


def gain_share(tables: Tables, users: np.ndarray, rates: np.ndarray) -> float:
    _, single = best_single(tables, users)
    oracle = float(tables.truth[users].max(axis=1).mean())
    return (float(rates.mean()) - single) / (oracle - single) if oracle > single else 0.0


class Fixed:
    """Everyone gets one action."""

    def __init__(self, action: int, actions: int) -> None:
        self.action, self.actions = action, actions

    def choose(self, u: int, rng: np.random.Generator) -> tuple[int, float]:
        return self.action, 1.0

    def distribution(self, u: int, rng: np.random.Generator) -> np.ndarray:
        probs = np.zeros(self.actions)
        probs[self.action] = 1.0
        return probs

    def learn(self, batch: list[Any]) -> None:
        pass


class Oracle:
    def __init__(self, tables: Tables) -> None:
        self.best = tables.truth.argmax(axis=1)
        self.actions = tables.truth.shape[1]

    def choose(self, u: int, rng: np.random.Generator) -> tuple[int, float]:
        return int(self.best[u]), 1.0

    def distribution(self, u: int, rng: np.random.Generator) -> np.ndarray:
        probs = np.zeros(self.actions)
        probs[self.best[u]] = 1.0
        return probs

    def learn(self, batch: list[Any]) -> None:
        pass


def ope_rows(
    name: str,
    agent: Any,
    tables: Tables,
    log: list[tuple[int, int, float, float]],
    truth_users: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """The frozen policy's OPE estimates on the uniform log, next to its true value."""
    from feedback.ope import LoggedBandit, evaluate

    rng = np.random.default_rng(seed)
    users = np.array([u for u, _, _, _ in log])
    dist = np.stack([agent.distribution(int(u), rng) for u in users])
    data = LoggedBandit(
        reward=np.array([r for _, _, r, _ in log]),
        pscore=np.array([p for _, _, _, p in log]),
        target_dist=dist,
        reward_hat=tables.predicted[users],
        action=np.array([a for _, a, _, _ in log]),
    )
    true_dist = np.stack([agent.distribution(int(u), rng) for u in truth_users])
    true_value = float((true_dist * tables.truth[truth_users]).sum(axis=1).mean())
    row: dict[str, Any] = {"policy": name, "true_value": true_value}
    for e in evaluate(data):
        row[e.estimator] = {
            "value": e.value,
            "ci": [e.ci_low, e.ci_high],
            "ess": e.ess,
            "error": e.value - true_value,
            "covers": bool(e.ci_low <= true_value <= e.ci_high),
        }
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=500, help="decisions per policy update")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--no-vw", action="store_true", help="leave Vowpal Wabbit out")
    parser.add_argument(
        "--family", default="auto", help="the model the policies read (default: selection)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.decisions, args.users, args.batch = 2_000, 2_000, 200
    return args


def policy_configs() -> dict[str, dict[str, Any]]:
    """Our policies under test, by the name the tables show."""
    linucb = {
        "type": "linucb",
        "alpha": 0.3,
        "features": {"age": 100, "sessions_30d": 10, "past_purchases": 10, "avg_order_value": 100},
        "categorical": ["region", "gender"],
        "hash_dim": 4,
    }
    return {
        "uniform random": {"type": "uniform_random"},
        "epsilon-greedy 0.1 (model uplift)": {"type": "epsilon_greedy", "epsilon": 0.1},
        "thompson (per campaign)": {"type": "thompson", "draws": 300},
        "thompson (model prior)": {
            "type": "thompson",
            "draws": 300,
            "model_prior_strength": 50,
            "mode": "absolute",
        },
        "linucb (context + model)": {**linucb, "min_propensity": 0.01, "mode": "absolute"},
    }


def build_agents(
    world: World, tables: Tables, with_vw: bool, users: np.ndarray
) -> tuple[dict[str, Any], str]:
    """Our policies, Vowpal Wabbit when asked for and installed, then the best single
    campaign for these users and the oracle (both know the truth); and a note saying why
    Vowpal Wabbit was skipped ("" when it was not)."""
    ids = [c.campaign_id for c in world.campaigns]
    agents: dict[str, Any] = {n: OurPolicy(c, tables, ids) for n, c in policy_configs().items()}
    vw_note = ""
    if with_vw:
        try:
            agents["vowpal wabbit cb_explore_adf ε=0.1"] = VowpalWabbit(world, tables, 0.1)
        except ImportError:
            vw_note = "Vowpal Wabbit is not installed (pip install vowpalwabbit): peer skipped"
    action, _ = best_single(tables, users)
    name = ids[action] if action < len(ids) else "no campaign"
    agents[f"best single campaign: {name} (knows the truth)"] = Fixed(action, len(ids) + 1)
    agents["oracle (knows the truth)"] = Oracle(tables)
    return agents, vw_note


def simulate_all(
    agents: dict[str, Any], tables: Tables, users: np.ndarray, batch: int, seed: int
) -> tuple[list[Run], list[tuple[int, int, float, float]]]:
    """Every agent's run on the same users, and the uniformly random run's log for OPE."""
    runs: list[Run] = []
    log: list[tuple[int, int, float, float]] = []
    for name, agent in agents.items():
        with console.status(f"simulating {name}"):
            runs.append(
                simulate(
                    name,
                    agent,
                    tables,
                    users,
                    batch,
                    seed,
                    log if name == "uniform random" else None,
                )
            )
    return runs, log


def print_runs(runs: list[Run], decisions: int) -> None:
    table = Table(title=f"policies on the simulated world: {decisions} decisions each")
    columns = ("policy", "true rate", "share of gain", "last 25% share", "conversions")
    for col in (*columns, "regret", "regret/decision", "last 25%", "s"):
        table.add_column(col, justify="right" if col != "policy" else "left")
    for r in runs:
        table.add_row(
            r.policy,
            f"{r.mean_true_rate:.4f}",
            f"{r.gain_share:+.0%}",
            f"{r.last_quarter_gain_share:+.0%}",
            str(r.conversions),
            f"{r.regret:.1f}",
            f"{r.regret_per_decision:.4f}",
            f"{r.last_quarter_regret_per_decision:.4f}",
            f"{r.seconds:.1f}",
        )
    console.print(table)
    console.print(
        "share of gain = (rate - best single) / (oracle - best single), by the world's truth: "
        "0 is sending everyone the one campaign best for these users, 1 the oracle"
    )


def evaluate_off_policy(
    agents: dict[str, Any],
    tables: Tables,
    log: list[tuple[int, int, float, float]],
    n_users: int,
    seed: int,
) -> list[dict[str, Any]]:
    """OPE rows of every agent but the one that made the log."""
    truth_users = np.random.default_rng(seed + 7).integers(0, n_users, 3_000)
    ope = []
    with console.status("off-policy evaluation on the uniform log"):
        for name, agent in agents.items():
            if name == "uniform random":
                continue
            ope.append(ope_rows(name, agent, tables, log, truth_users, seed))
    return ope


def print_ope(ope: list[dict[str, Any]], logged: int) -> None:
    table = Table(title=f"off-policy estimates on the uniform log ({logged} decisions) vs truth")
    for col in ("policy (frozen)", "true value", "IPS", "SNIPS", "DM", "DR", "ESS (IPS)"):
        table.add_column(col, justify="right" if col != "policy (frozen)" else "left")
    for row in ope:
        cells = [
            f"{row[e]['value']:.4f} ±{(row[e]['ci'][1] - row[e]['ci'][0]) / 2:.4f}"
            + ("" if row[e]["covers"] else " ✗")
            for e in ("ips", "snips", "dm", "dr")
        ]
        table.add_row(row["policy"], f"{row['true_value']:.4f}", *cells, f"{row['ips']['ess']:.0f}")
    console.print(table)
    console.print("± is the half-width of the 95% interval; ✗ marks an interval missing the truth")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    world = World(n_users=args.users, seed=args.seed)
    with console.status("training the model the learning policies read"):
        tables = model_tables(world, 4_000, args.family, seed=args.seed)
    users = np.random.default_rng(args.seed).integers(0, args.users, args.decisions)
    agents, vw_note = build_agents(world, tables, with_vw=not args.no_vw, users=users)
    runs, log = simulate_all(agents, tables, users, args.batch, args.seed)
    print_runs(runs, args.decisions)
    if vw_note:
        console.print(vw_note)
    ope = evaluate_off_policy(agents, tables, log, args.users, args.seed)
    print_ope(ope, len(log))
    result = {"runs": [asdict(r) for r in runs], "ope": ope, "notes": [vw_note] if vw_note else []}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
