"""Feedback, transport-free: outcomes acknowledged after commit (an event id counts once;
concurrent calls committed together by the server's outcome writer), and
decisions made elsewhere; unit ids stored as the settings say (feedback/privacy.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from common.errors import ResourceExhausted
from common.settings import Settings
from feedback.decisions import Activation, DecisionRecord, activate_decisions, log_decisions
from feedback.models import ID_LENGTH
from feedback.outcomes import LogResult, Outcome, log_outcome_groups, validate_outcome
from feedback.privacy import stored_unit_id
from feedback.store import Store
from server.runtime.outcome_writer import OutcomeWriter
from server.runtime.policy_updater import PolicyUpdater


class FeedbackHandler:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policies: PolicyUpdater | None = None,
        writer: OutcomeWriter | None = None,
    ) -> None:
        self._store = store
        self._writer = writer  # group commit of concurrent calls; None: each call commits
        self._policies = policies
        self._max = settings.max_outcomes
        self._window_s = settings.attribution_window_s
        self._unit_key = settings.unit_id_hash_key.get_secret_value().encode("utf-8")

    def check_size(self, field: str, n: int) -> None:
        """Refuses a call of more than `max_outcomes` entries before any is converted."""
        if n > self._max:
            raise ResourceExhausted(f"{field} has {n} entries; the limit is {self._max}")

    def log_outcomes(self, outcomes: Sequence[Outcome]) -> LogResult:
        self.check_size("outcomes", len(outcomes))
        for i, o in enumerate(outcomes):  # a bad call fails alone, before it joins a group
            validate_outcome(o, f"outcomes[{i}]")
        if self._writer is not None:
            result = self._writer.log(outcomes)
        else:
            (result,) = log_outcome_groups(
                self._store, [outcomes], default_window_s=self._window_s, validated=True
            )
        if self._policies is not None:
            self._policies.poke(result.accepted)
        return result

    def log_decisions(self, records: Sequence[DecisionRecord]) -> tuple[int, int]:
        """(new, duplicates) of decisions made elsewhere, unit ids stored as ours are."""
        self.check_size("decisions", len(records))
        if self._unit_key:
            records = [
                replace(r, unit_id=stored_unit_id(r.unit_id, self._unit_key))
                if r.unit_id and len(r.unit_id) <= ID_LENGTH
                else r  # left for validation to refuse by name
                for r in records
            ]
        return log_decisions(self._store, records, default_window_s=self._window_s)

    def activate(self, decision_ids: Sequence[str]) -> Activation:
        """Deferred decisions made to count (ScoreRequest.defer_activation)."""
        self.check_size("decision_ids", len(decision_ids))
        return activate_decisions(self._store, decision_ids, default_window_s=self._window_s)
