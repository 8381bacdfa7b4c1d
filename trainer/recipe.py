"""A training recipe: the model family, the effect learner, tuning and calibration, bootstrap
heads and the objective. Registered with every version, so that a retrain can reuse
production's recipe instead of the deployment's defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from common.errors import InvalidArgument
from trainer.learners import LEARNERS, PER_ARM, S_LEARNER, TRANSFORMED_OUTCOME
from trainer.pipeline import EFFECT_FAMILIES, FAMILIES

AUTO = "auto"
# The candidates `auto` cross-fits: the linear and the boosted family, each as an S-learner
# (the linear one with campaign x user products), a T-learner and a DR-learner.
AUTO_FAMILIES = ("logreg", "hgb")
AUTO_LEARNERS = (S_LEARNER, "t-learner", "dr-learner")


@dataclass(frozen=True)
class Recipe:
    family: str = "hgb"
    learner: str = S_LEARNER
    tune: bool = False
    calibrate: bool = False
    heads: int = 0  # bootstrap replicates of the learner for the objective (0: none)
    objective: str = ""  # the target selection and heads are about; "": the default

    def check(self) -> None:
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
        return self.learner in PER_ARM

    def candidates(self, families: tuple[str, ...] = FAMILIES) -> list[tuple[str, str]]:
        """What `auto` compares: the default grid, narrowed to a pinned family or learner."""
        pinned_family = [self.family] if self.family != AUTO else list(AUTO_FAMILIES)
        pinned_learner = [self.learner] if self.learner != AUTO else list(AUTO_LEARNERS)
        return [(f, lr) for f in pinned_family if f in families for lr in pinned_learner]

    def chosen(self, family: str, learner: str) -> Recipe:
        """The recipe with what selection chose; tuning only stays with the S-learner."""
        keep = learner == S_LEARNER
        return replace(
            self,
            family=family,
            learner=learner,
            tune=self.tune and keep,
            calibrate=self.calibrate and keep,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def __str__(self) -> str:
        return f"{self.family} {self.learner}" + (f" ({self.heads} heads)" if self.heads else "")
