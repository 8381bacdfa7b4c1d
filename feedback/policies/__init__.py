"""Policies, transport-free: the protocol and `decide()` (base), simple policies, learning
bandits, and configuration. Scoring, off-policy replay and shadow scoring all decide through
`decide()`; learned state lives in feedback/policy_state.py."""

from feedback.policies.bandits import BootstrapThompson, LinUCB, ThompsonSampling
from feedback.policies.base import (
    MODES,
    NO_CAMPAIGN,
    REWARD_TYPES,
    Choice,
    Context,
    Observation,
    Policy,
    Scores,
    arm_keys,
    decide,
    greedy,
    sample,
    with_floor,
)
from feedback.policies.config import POLICY_TYPES, allowed_keys, build_policy
from feedback.policies.simple import EpsilonGreedy, FixedCampaign, NoCampaign, UniformRandom

__all__ = [
    "MODES",
    "NO_CAMPAIGN",
    "POLICY_TYPES",
    "REWARD_TYPES",
    "BootstrapThompson",
    "Choice",
    "Context",
    "EpsilonGreedy",
    "FixedCampaign",
    "LinUCB",
    "NoCampaign",
    "Observation",
    "Policy",
    "Scores",
    "ThompsonSampling",
    "UniformRandom",
    "allowed_keys",
    "arm_keys",
    "build_policy",
    "decide",
    "greedy",
    "sample",
    "with_floor",
]
