"""Plays the simulator's world against a running server: score, draw outcomes, send them back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from clients.client import CampaignLiftClient, OutcomeEvent, UserRequest
from clients.simulator import World


@dataclass
class ArmStats:
    """Per variant (or model version): what was decided and what it truly earned."""

    decisions: int = 0
    conversions: int = 0
    clicks: int = 0
    expected_reward: float = 0.0  # sum of true P(conversion) of the chosen actions
    oracle_reward: float = 0.0  # sum of the best true P(conversion) per decision
    no_campaign: int = 0
    # Per action (campaigns, then no campaign): the sum of its true P(conversion) over these
    # decisions' users, what "everyone gets that action" would have earned on them.
    action_rewards: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def reward_per_decision(self) -> float:
        return self.expected_reward / self.decisions if self.decisions else 0.0

    @property
    def best_single(self) -> tuple[int, float]:
        """The one action best for all these users (what a plain A/B test concludes), and
        its true reward per decision."""
        if not self.decisions or not len(self.action_rewards):
            return -1, 0.0
        best = int(np.argmax(self.action_rewards))
        return best, float(self.action_rewards[best] / self.decisions)

    @property
    def gain_share(self) -> float:
        """(reward - best single) / (oracle - best single): the share of the personalization
        gain captured; 0 is the best single campaign, 1 the oracle."""
        _, single = self.best_single
        oracle = self.oracle_reward / self.decisions if self.decisions else 0.0
        return (self.reward_per_decision - single) / (oracle - single) if oracle > single else 0.0

    def add(self, reward: float, oracle: float, actions: np.ndarray) -> None:
        """One decision's true reward, the oracle's, and every action's."""
        if not len(self.action_rewards):
            self.action_rewards = np.zeros(len(actions))
        self.decisions += 1
        self.expected_reward += reward
        self.oracle_reward += oracle
        self.action_rewards += actions

    @property
    def oracle_per_decision(self) -> float:
        return self.oracle_reward / self.decisions if self.decisions else 0.0

    @classmethod
    def merged(cls, parts: list[ArmStats]) -> ArmStats:
        """One set of stats over the decisions of `parts` (e.g. the last windows of a loop)."""
        total = cls()
        for p in parts:
            if not p.decisions:
                continue
            if not len(total.action_rewards):
                total.action_rewards = np.zeros(len(p.action_rewards))
            total.decisions += p.decisions
            total.conversions += p.conversions
            total.clicks += p.clicks
            total.expected_reward += p.expected_reward
            total.oracle_reward += p.oracle_reward
            total.no_campaign += p.no_campaign
            total.action_rewards = total.action_rewards + p.action_rewards
        return total

    @property
    def regret_per_decision(self) -> float:
        return (
            (self.oracle_reward - self.expected_reward) / self.decisions if self.decisions else 0.0
        )


def _stats_table() -> defaultdict[str, ArmStats]:
    return defaultdict(ArmStats)


@dataclass
class LoopReport:
    by_variant: dict[str, ArmStats] = field(default_factory=_stats_table)
    # (variant, model version) -> stats: what each served version earned under each policy.
    by_model: dict[tuple[str, str], ArmStats] = field(default_factory=lambda: defaultdict(ArmStats))
    # Per window of consecutive decisions, stats per variant: learning over time.
    timeline: list[dict[str, ArmStats]] = field(default_factory=list)
    outcomes_sent: int = 0
    outcomes_accepted: int = 0

    def last(self, variant: str, share: float = 0.2) -> ArmStats:
        """The variant's stats over (about) the last `share` of its decisions, whole windows."""
        windows = [w[variant] for w in self.timeline if variant in w]
        wanted = share * sum(w.decisions for w in windows)
        tail: list[ArmStats] = []
        for w in reversed(windows):
            if sum(t.decisions for t in tail) >= wanted:
                break
            tail.append(w)
        return ArmStats.merged(tail)


class ClosedLoop:
    """Each step: a batch of users is scored (one ScoreBatch call), each user's outcome is drawn
    from the world's truth for the chosen action, and the events go back through LogOutcomes."""

    def __init__(
        self,
        client: CampaignLiftClient,
        world: World,
        *,
        experiment: str = "",
        objective: str = "conversion",
        seed: int = 3,
        window: int = 10_000,
    ) -> None:
        self.client = client
        self.world = world
        self.experiment = experiment
        self.objective = objective
        self.rng = np.random.default_rng(seed)
        self.report = LoopReport()
        self.window = window
        self._in_window = window
        self._candidates = [(c.campaign_id, c.features()) for c in world.campaigns]

    def step(self, batch_size: int) -> None:
        users = self.rng.integers(0, len(self.world.users), batch_size)
        requests = [
            UserRequest(
                unit_id=self.world.users.unit_id.iat[u],
                user_features=self.world.user_features(int(u)),
                candidates=self._candidates,
                experiment=self.experiment,
            )
            for u in users
        ]
        results = self.client.score_batch(requests)
        actions = np.array([self.world.action_index(r.decision.campaign_id) for r in results])
        drawn = self.world.draw(users, actions, self.rng)
        expected = self.world.truth(self.objective, users, actions)
        oracle = self.world.oracle(self.objective, users)
        every = self.world.table(self.objective, users)
        events = []
        for k, r in enumerate(results):
            d = r.decision
            variant = d.variant or d.policy
            if self._in_window >= self.window:
                self.report.timeline.append(_stats_table())
                self._in_window = 0
            self._in_window += 1
            for stats in (
                self.report.by_variant[variant],
                self.report.by_model[(variant, d.model_version)],
                self.report.timeline[-1][variant],
            ):
                stats.add(float(expected[k]), float(oracle[k]), every[k])
                stats.conversions += int(drawn["conversion"][k])
                stats.clicks += int(drawn["click"][k])
                stats.no_campaign += d.campaign_id is None
            for kind in ("click", "conversion"):
                if drawn[kind][k]:
                    events.append(OutcomeEvent(f"{d.decision_id}:{kind}", d.decision_id, kind))
        if events:
            accepted, _ = self.client.log_outcomes(events)
            self.report.outcomes_sent += len(events)
            self.report.outcomes_accepted += accepted

    def run(
        self,
        decisions: int,
        *,
        batch_size: int = 250,
        progress: Callable[[int], None] | None = None,
        pause: Callable[[], None] | None = None,
    ) -> LoopReport:
        """`pause`, called before each batch, may hold the users back (the demo waits there
        while a retrain runs: simulated traffic is compressed, a deployment's is not)."""
        done = 0
        while done < decisions:
            if pause is not None:
                pause()
            n = min(batch_size, decisions - done)
            self.step(n)
            done += n
            if progress is not None:
                progress(n)
        return self.report
