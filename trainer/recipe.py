"""A training recipe: the model family, the effect learner, tuning and calibration, bootstrap
heads and the objective. Registered with every version, so that a retrain can reuse
production's recipe instead of the deployment's defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from common.errors import InvalidArgument
from trainer.learners import (
    LEARNERS,
    PER_ARM,
    S_LEARNER,
    TRANSFORMED_OUTCOME,
    EffectData,
    FittedTarget,
    fit_learner,
)
from trainer.learners.ensemble import ENSEMBLE, EnsembleFit
from trainer.pipeline import EFFECT_FAMILIES, FAMILIES

AUTO = "auto"
# The candidates `auto` cross-fits: the linear and the boosted family, each as an S-learner
# (the linear one with campaign x user products), a T-learner and a DR-learner, and the
# additive family (linear plus quantile steps of each numeric feature) as a T-learner; then
# the averages of the best two and three (trainer/selection.py).
AUTO_GRID = (
    ("logreg", S_LEARNER),
    ("logreg", "t-learner"),
    ("logreg", "dr-learner"),
    ("gam", "t-learner"),
    ("hgb", S_LEARNER),
    ("hgb", "t-learner"),
    ("hgb", "dr-learner"),
)
AUTO_LEARNERS = (S_LEARNER, "t-learner", "dr-learner")


@dataclass(frozen=True)
class Recipe:
    family: str = "hgb"
    learner: str = S_LEARNER
    tune: bool = False
    calibrate: bool = False
    heads: int = 0  # bootstrap replicates of the learner for the objective (0: none)
    objective: str = ""  # the target selection and heads are about; "": the default
    # learner "ensemble": the (family, learner) averaged with equal weights.
    members: tuple[tuple[str, str], ...] = ()

    def check(self) -> None:
        if self.learner == ENSEMBLE:
            if len(self.members) < 2:
                raise InvalidArgument("an ensemble recipe needs at least two members")
            for family, learner in self.members:
                Recipe(family, learner).check()
            return
        if self.family != AUTO and self.family not in FAMILIES:
            raise InvalidArgument(f"model family must be one of {FAMILIES}, got {self.family!r}")
        if self.learner != AUTO and self.learner not in LEARNERS:
            raise InvalidArgument(
                f"uplift method must be one of {(*LEARNERS, AUTO)}, got {self.learner!r}"
            )
        if self.learner == TRANSFORMED_OUTCOME and self.family not in EFFECT_FAMILIES:
            raise InvalidArgument(
                f"uplift method {TRANSFORMED_OUTCOME!r} needs a family in {EFFECT_FAMILIES} "
                f"(its effect must vary with the user), got {self.family!r}"
            )
        if (self.tune or self.calibrate) and self.learner not in (S_LEARNER, AUTO):
            raise InvalidArgument(
                f"--tune and --calibrate apply to the S-learner's response model, not to "
                f"{self.learner!r}"
            )
        if not 0 <= self.heads <= 64:
            raise InvalidArgument(f"heads must be in 0..64, got {self.heads}")

    @property
    def automatic(self) -> bool:
        return AUTO in (self.family, self.learner)

    @property
    def per_arm(self) -> bool:
        """Per-arm models all the way (revenue gets an amount model per arm too)."""
        return self.learner in PER_ARM

    @property
    def amount_models(self) -> list[tuple[str, bool]]:
        """The (family, per arm) of each revenue amount model: one per ensemble member."""
        if self.learner == ENSEMBLE:
            return [(f, lr in PER_ARM) for f, lr in self.members]
        return [(self.family, self.per_arm)]

    @property
    def knows_arms(self) -> bool:
        """Some part keeps a model per arm: served campaigns must be training arms."""
        return self.per_arm or any(learner in PER_ARM for _, learner in self.members)

    def fit(
        self,
        data: EffectData,
        target: str,
        seed: int = 0,
        weights: np.ndarray | None = None,
    ) -> FittedTarget:
        """The recipe's learner (or ensemble) fitted for one target."""
        if self.learner != ENSEMBLE:
            return fit_learner(self.learner, data, target, self.family, seed, weights)
        members = [fit_learner(lr, data, target, f, seed, weights) for f, lr in self.members]
        return EnsembleFit(members, [1.0 / len(members)] * len(members))

    def candidates(self) -> list[tuple[str, str]]:
        """What `auto` compares: the default grid, or with a pinned family its S-, T- and
        DR-learner, or with a pinned learner the grid's families for it."""
        if self.family == AUTO and self.learner == AUTO:
            return list(AUTO_GRID)
        if self.family != AUTO:
            return [(self.family, lr) for lr in AUTO_LEARNERS]
        families = sorted({f for f, _ in AUTO_GRID}, key=[f for f, _ in AUTO_GRID].index)
        return [(f, self.learner) for f in families]

    def chosen(
        self, family: str, learner: str, members: tuple[tuple[str, str], ...] = ()
    ) -> Recipe:
        """The recipe with what selection chose; tuning only stays with the S-learner."""
        keep = learner == S_LEARNER
        return replace(
            self,
            family=family,
            learner=learner,
            members=members,
            tune=self.tune and keep,
            calibrate=self.calibrate and keep,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the members as lists), as the registry keeps it."""
        return {**asdict(self), "members": [list(m) for m in self.members]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["members"] = tuple(tuple(m) for m in known.get("members", ()))
        return cls(**known)

    def __str__(self) -> str:
        what = (
            " + ".join(f"{f} {lr}" for f, lr in self.members)
            if self.learner == ENSEMBLE
            else f"{self.family} {self.learner}"
        )
        return what + (f" ({self.heads} heads)" if self.heads else "")
