"""The scoring handler, transport-free: validate, run the model once per batch, decide, log."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from common.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from common.settings import Settings
from feedback.catalogue import ARCHIVED, Campaign
from feedback.decisions import DecisionRecord
from feedback.policies import Choice, Scores, build_policy, decide
from feedback.privacy import stored_unit_id
from feedback.rewards import default_objective
from feedback.store import Store
from server.handlers.features import (
    Candidate,
    CandidateBlock,
    ScoreItem,
    build_feeds,
    campaign_problem,
    prepare_block,
    validate_item,
)
from server.runtime.caches import Assignment, Experiments, PolicyStates
from server.runtime.catalogue import (
    FREQUENCY_CAP,
    OVER_BUDGET,
    UNKNOWN,
    UNSCORABLE,
    CatalogueCache,
)
from server.runtime.decision_log import DecisionLog
from server.runtime.metrics import ServerMetrics
from server.runtime.model import LoadedModel, Prediction
from server.runtime.models import ModelManager
from server.runtime.shadow import ShadowContext, ShadowJob, ShadowScorer


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """One decision and the scores behind it, held as columns (one entry per candidate, in
    request order): building a dict per candidate costs more than the model on small models."""

    campaign_ids: list[str]
    probability: dict[str, list[float]]  # per target: with the campaign
    uplift: dict[str, list[float]]  # per target: versus no campaign (the model's own estimate)
    propensities: list[float]  # the policy's probability of choosing each candidate
    decision_id: str
    campaign_id: str | None  # None: no campaign
    propensity: float
    no_campaign_propensity: float
    experiment: str
    variant: str
    policy: str
    model_version: str
    decided_at: datetime
    propensity_method: str = "exact"
    # Per target: the probability without any campaign (the same for every candidate).
    control: dict[str, float] = field(default_factory=dict)
    # Per revenue output (e.g. spend): expected value with each candidate, and its uplift.
    expected: dict[str, list[float]] = field(default_factory=dict)
    expected_uplift: dict[str, list[float]] = field(default_factory=dict)
    # Catalogue campaigns left out, with the reason; the catalogue version (0: inline).
    excluded: tuple[tuple[str, str], ...] = ()
    catalogue_version: int = 0


log = logging.getLogger(__name__)

# Prepared candidate blocks kept (model versions x catalogue versions in use at once).
MAX_BLOCKS = 8


class Scorer:
    def __init__(
        self,
        models: ModelManager,
        store: Store,
        decisions: DecisionLog,
        settings: Settings,
        metrics: ServerMetrics | None = None,
        shadow: ShadowScorer | None = None,
        catalogue: CatalogueCache | None = None,
    ) -> None:
        self._catalogue = catalogue or CatalogueCache(store, settings.catalogue_poll_interval_s)
        self._blocks: dict[tuple[str, int], CandidateBlock] = {}
        self._blocks_lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()
        self._metrics = metrics
        self._shadow = shadow
        self._models = models
        self._decisions = decisions
        self._experiments = Experiments(store)
        self._states = PolicyStates(store, settings.policy_state_refresh_s)
        self._settings = settings
        self._unit_key = settings.unit_id_hash_key.get_secret_value().encode("utf-8")
        self._default_policy = build_policy(settings.policy_config())

    def score(self, items: Sequence[ScoreItem]) -> list[ScoreResult]:
        if len(items) > self._settings.max_batch:
            raise ResourceExhausted(
                f"requests has {len(items)} entries; the limit is {self._settings.max_batch}"
            )
        items = [self._resolve(item) for item in items]
        given: set[str] = set()
        for item in items:
            validate_item(item, self._settings.max_candidates)
            if item.decision_id:
                if item.decision_id in given:
                    raise InvalidArgument(
                        f"{item.where}decision_id {item.decision_id!r} is a duplicate"
                    )
                given.add(item.decision_id)
        # Variants first: an unknown experiment fails the call before any model runs.
        assigned = [self._assign(item) for item in items]
        # Each item's model: its pinned version, else the canary or production by unit id.
        by_model: dict[str, tuple[LoadedModel, list[int]]] = {}
        for i, item in enumerate(items):
            if item.model_version:
                model = self._models.get(item.model_version)
            else:
                model = self._models.for_unit(item.unit_id)
            by_model.setdefault(model.version, (model, []))[1].append(i)
        results: list[ScoreResult | None] = [None] * len(items)
        records: list[Callable[[], DecisionRecord]] = []
        for model, indices in by_model.values():
            group = [(items[i], assigned[i]) for i in indices]
            for i, (result, record) in zip(indices, self._score_group(group, model), strict=True):
                results[i] = result
                records.append(record)
        if self._settings.decision_log:
            self._decisions.submit(records)
        return [r for r in results if r is not None]

    def _resolve(self, item: ScoreItem) -> ScoreItem:
        """Candidates named by catalogue id (or every campaign) become inline candidates with
        the catalogue's features; what cannot be sent now is left out with its reason."""
        if not item.campaign_ids and not item.all_active:
            return item
        p = item.where
        if item.candidates:
            raise InvalidArgument(
                f"{p}candidates and {p}campaign_ids / all_active_campaigns are exclusive: "
                "name candidates one way"
            )
        if item.campaign_ids and item.all_active:
            raise InvalidArgument(f"{p}campaign_ids and all_active_campaigns are exclusive")
        snap = self._catalogue.snapshot_knowing(item.campaign_ids)
        now = datetime.now(UTC)
        if item.all_active:
            ids = sorted(c for c, v in snap.campaigns.items() if v.status != ARCHIVED)
            if not ids:
                raise NotFound(f"{p}all_active_campaigns: the catalogue has no campaigns")
        else:
            ids = list(item.campaign_ids)
            seen: set[str] = set()
            for j, cid in enumerate(ids):
                if cid in seen:
                    raise InvalidArgument(f"{p}campaign_ids[{j}] {cid!r} is a duplicate")
                seen.add(cid)
            if not any(cid in snap.campaigns for cid in ids):
                raise NotFound(f"{p}campaign_ids: none of {ids[:10]} is in the catalogue")
        excluded: list[tuple[str, str]] = []
        sendable: list[Campaign] = []
        for cid in ids:
            campaign = snap.campaigns.get(cid)
            if campaign is None:
                excluded.append((cid, UNKNOWN))
                continue
            reason = campaign.unavailable(now)
            if reason is None and self._catalogue.pacer.spent(campaign, now):
                reason = OVER_BUDGET
            if reason is None:
                sendable.append(campaign)
            else:
                excluded.append((cid, reason))
        if any(c.capped for c in sendable):
            unit = stored_unit_id(item.unit_id, self._unit_key)
            capped = self._catalogue.caps.capped(unit, sendable, now)
            excluded += [
                (c.campaign_id, FREQUENCY_CAP) for c in sendable if c.campaign_id in capped
            ]
            sendable = [c for c in sendable if c.campaign_id not in capped]
        if not sendable:
            why = ", ".join(f"{cid} {reason}" for cid, reason in excluded[:10])
            raise FailedPrecondition(f"{p}no campaign of the request can be sent now: {why}")
        return dataclasses.replace(
            item,
            candidates=[Candidate(c.campaign_id, c.features) for c in sendable],
            catalogue={c.campaign_id: c for c in sendable},
            catalogue_version=snap.version,
            excluded=tuple(excluded),
        )

    def _block(
        self, group: list[tuple[ScoreItem, Assignment]], model: LoadedModel
    ) -> CandidateBlock | None:
        """The catalogue's candidate columns for this model, prepared once per (model version,
        catalogue version) — for the catalogue version the group's first catalogue item used."""
        version = next((i.catalogue_version for i, _ in group if i.catalogue is not None), None)
        if version is None:
            return None
        key = (model.version, version)
        block = self._blocks.get(key)
        if block is None:
            snap = self._catalogue.snapshot
            if snap.version != version:
                return None  # the catalogue moved on: those items go the inline way
            block = prepare_block(snap.campaigns, version, model)
            with self._blocks_lock:
                while len(self._blocks) >= MAX_BLOCKS:
                    self._blocks.pop(next(iter(self._blocks)), None)
                self._blocks[key] = block
        return block

    def _scorable(
        self, item: ScoreItem, model: LoadedModel, block: CandidateBlock | None
    ) -> ScoreItem:
        """A catalogue item without the campaigns this model cannot score (a category it was
        not trained on, an arm a per-arm learner lacks, a basket share without a revenue
        output): those are excluded as "unscorable" — the caller named them rightly, the
        catalogue and the model disagree — and logged; inline candidates still fail the call."""
        if item.catalogue is None:
            return item
        if block is not None and block.catalogue_version != item.catalogue_version:
            block = None  # prepared for another catalogue version: check this item's own
        keep, dropped = [], []
        for c in item.candidates:
            if block is not None:
                problem = block.problems.get(c.campaign_id)
            else:
                problem = campaign_problem(item.catalogue[c.campaign_id], model)
            if problem is None:
                keep.append(c)
            else:
                dropped.append(c.campaign_id)
                self._warn_unscorable(model.version, c.campaign_id, problem)
        if not dropped:
            return item
        excluded = (*item.excluded, *((cid, UNSCORABLE) for cid in dropped))
        if not keep:
            raise FailedPrecondition(
                f"{item.where}no campaign of the request can be scored by model version "
                f"{model.version}: " + ", ".join(f"{cid} {r}" for cid, r in excluded[:10])
            )
        return dataclasses.replace(item, candidates=keep, excluded=excluded)

    def _warn_unscorable(self, version: str, campaign_id: str, problem: str) -> None:
        if (version, campaign_id) not in self._warned:
            self._warned.add((version, campaign_id))
            log.warning("model version %s cannot score %s", version, problem)

    def _assign(self, item: ScoreItem) -> Assignment:
        """The item's experiment variant and policy, or the default policy."""
        if item.experiment:
            return self._experiments.assign(item.experiment, item.unit_id, item.user_features)
        # The default path learns like a variant (feedback/policy_state.py DefaultPath).
        key = ("", "") if self._default_policy.stateful else None
        return Assignment("", "", self._default_policy, key)

    def _score_group(
        self, group: list[tuple[ScoreItem, Assignment]], model: LoadedModel
    ) -> list[tuple[ScoreResult, Callable[[], DecisionRecord]]]:
        began = time.perf_counter()
        block = self._block(group, model)
        group = [(self._scorable(item, model, block), a) for item, a in group]
        feeds = build_feeds([item for item, _ in group], model, block)
        predictions = model.predict_all(feeds)
        if self._metrics is not None:
            self._metrics.model_seconds.labels(model.version).observe(time.perf_counter() - began)
            self._metrics.pairs.labels(model.version).inc(len(next(iter(feeds.values()))))
        configured = default_objective(model.objectives, self._settings.objective)
        out = []
        start = 0
        for item, assignment in group:
            stop = start + len(item.candidates)
            rows = {name: p.rows(start, stop) for name, p in predictions.items()}
            objective = assignment.policy.objective or configured
            if objective not in rows:
                raise FailedPrecondition(
                    f"experiment {item.experiment!r} variant {assignment.variant!r}: objective "
                    f"{objective!r} is not an output of model version {model.version} "
                    f"(targets {list(model.targets)}, revenue {list(model.revenue)})"
                )
            out.append(self._decide(item, assignment, model, rows, objective))
            if self._metrics is not None:
                self._metrics.decisions.labels(out[-1][0].policy, model.version).inc()
            start = stop
        self._shadow_score(model, group, feeds, out, configured)
        return out

    def _shadow_score(
        self,
        model: LoadedModel,
        group: list[tuple[ScoreItem, Assignment]],
        feeds: dict[str, np.ndarray],
        out: list[tuple[ScoreResult, Callable[[], DecisionRecord]]],
        configured: str,
    ) -> None:
        """Hands production's batch to the shadow version, if one is set (never waits): it
        re-scores the rows and decides with each decision's own policy and state."""
        shadow = self._models.shadow
        current = self._models.current
        if self._shadow is None or shadow is None or current is None:
            return
        if model is not current or shadow.version == model.version:
            return
        contexts = [
            ShadowContext(
                policy=a.policy,
                state=self._states.get(a.state_key, a.policy) if a.state_key else None,
                objective=a.policy.objective
                or default_objective(shadow.objectives, self._settings.objective),
                user_features=item.user_features,
                campaign_ids=[c.campaign_id for c in item.candidates],
            )
            for item, a in group
        ]
        self._shadow.submit(
            ShadowJob(
                shadow=shadow,
                production_version=model.version,
                feeds=feeds,
                decision_ids=[result.decision_id for result, _ in out],
                sizes=[len(item.candidates) for item, _ in group],
                contexts=contexts,
            )
        )

    def _decide(
        self,
        item: ScoreItem,
        assignment: Assignment,
        model: LoadedModel,
        rows: dict[str, Prediction],
        objective: str,
    ) -> tuple[ScoreResult, Callable[[], DecisionRecord]]:
        policy = assignment.policy
        state = (
            self._states.get(assignment.state_key, policy)
            if assignment.state_key is not None
            else None
        )
        decision = uuid.uuid4()
        rng = np.random.default_rng(decision.int)
        excluded = item.excluded
        pacer = self._catalogue.pacer
        costs = self._costs(item, model, rows)
        held: list[tuple[Campaign, float]] = []
        now = _now()
        if item.catalogue is not None:
            # One send of every budgeted candidate is held BEFORE the policy decides, so that
            # the decision is made over exactly the candidates it may send: the logged
            # propensities are the action's true probabilities. The holds not chosen are
            # given back to this server's leases afterwards.
            keep = []
            for j, c in enumerate(item.candidates):
                campaign = item.catalogue[c.campaign_id]
                if pacer.reserve(campaign, float(costs[j]), now):
                    keep.append(j)
                    if campaign.budget:
                        held.append((campaign, float(costs[j])))
                else:
                    excluded = (*excluded, (campaign.campaign_id, OVER_BUDGET))
            if not keep:
                raise FailedPrecondition(
                    f"{item.where}no campaign of the request can be sent now: "
                    + ", ".join(f"{cid} {reason}" for cid, reason in excluded[:10])
                )
            if len(keep) < len(item.candidates):
                item = dataclasses.replace(
                    item, candidates=[item.candidates[j] for j in keep], excluded=excluded
                )
                rows = {name: r.take(keep) for name, r in rows.items()}
                costs = costs[keep]
        ids = [c.campaign_id for c in item.candidates]
        choice: Choice | None = None
        try:
            choice = decide(
                policy,
                self._objective_scores(rows[objective], objective, model, costs),
                ids,
                user_features=item.user_features,
                state=state,
                rng=rng,
            )
        finally:
            sent = None if choice is None or choice.no_campaign else ids[choice.index]
            for campaign, cost in held:
                if campaign.campaign_id != sent:
                    pacer.release(campaign, cost, now)
        chosen = choice.index
        no_campaign = choice.no_campaign
        propensities = choice.probabilities.tolist()
        targets = [t for t in model.targets if t in rows]
        result = ScoreResult(
            campaign_ids=ids,
            probability={t: rows[t].value.tolist() for t in targets},
            uplift={t: rows[t].uplift.tolist() for t in targets},
            propensities=propensities[:-1],
            decision_id=item.decision_id or decision.hex,
            campaign_id=None if no_campaign else ids[chosen],
            propensity=propensities[chosen],
            no_campaign_propensity=propensities[-1],
            experiment=assignment.experiment,
            variant=assignment.variant,
            policy=policy.name,
            model_version=model.version,
            decided_at=datetime.now(UTC),
            propensity_method=policy.propensity_method,
            control={t: float(rows[t].control[0]) for t in targets if len(ids)},
            expected={r: rows[r].value.tolist() for r in model.revenue},
            expected_uplift={r: rows[r].uplift.tolist() for r in model.revenue},
            excluded=excluded,
            catalogue_version=item.catalogue_version,
        )
        # The record (a dict per candidate, JSON later) is built by the decision log's writer.
        unit_id = stored_unit_id(item.unit_id, self._unit_key)
        sent = result.campaign_id
        if item.catalogue is not None and sent is not None and item.catalogue[sent].capped:
            self._catalogue.caps.sent(unit_id, sent, result.decision_id, result.decided_at)
        return result, functools.partial(decision_record, item, result, model, unit_id)

    def _costs(
        self, item: ScoreItem, model: LoadedModel, rows: dict[str, Prediction]
    ) -> np.ndarray:
        """Each candidate's cost of one send: the catalogue's fixed cost plus its share of the
        expected basket (the model's first revenue output; none without one). Inline
        candidates cost nothing."""
        n = len(item.candidates)
        if item.catalogue is None:
            return np.zeros(n)
        campaigns = [item.catalogue[c.campaign_id] for c in item.candidates]
        fixed = np.array([c.cost_per_send for c in campaigns])
        share = np.array([c.cost_share for c in campaigns])
        if not share.any() or not model.revenue:
            return fixed
        basket = rows[model.revenue[0]].value.astype(np.float64)
        # A regressor's expected basket can dip below 0 (or be NaN on a broken model): a cost
        # is never negative, so that it can never add budget back.
        return fixed + share * np.nan_to_num(np.maximum(basket, 0.0))

    def _objective_scores(
        self, p: Prediction, objective: str, model: LoadedModel, costs: np.ndarray
    ) -> Scores:
        """The policy's scores: the objective's predictions, or with the profit objective
        their value in money minus each send's cost — so that "no campaign" wins when no
        campaign's expected incremental value covers its cost."""
        value = p.value.astype(np.float64)
        uplift = p.uplift.astype(np.float64)
        control = float(p.control[0]) if len(value) else 0.0
        heads = p.heads
        if self._settings.profit:
            scale = 1.0 if objective in model.revenue else self._settings.conversion_value
            if scale <= 0:
                raise FailedPrecondition(
                    f"the profit objective needs a revenue objective or "
                    f"CAMPAIGN_LIFT_CONVERSION_VALUE > 0; the objective is {objective!r}"
                )
            value, uplift, control = value * scale - costs, uplift * scale - costs, control * scale
            if heads is not None:
                heads = heads.astype(np.float64) * scale - costs[:, None]
        return Scores(value=value, uplift=uplift, control=control, heads=heads)


def _now() -> datetime:
    return datetime.now(UTC)


def decision_record(
    item: ScoreItem, result: ScoreResult, model: LoadedModel, unit_id: str
) -> DecisionRecord:
    """What the store keeps of a decision: everything needed to replay or re-weight it."""
    if result.campaign_id is None:
        chosen_features = dict(model.control)
    else:
        chosen = item.candidates[result.campaign_ids.index(result.campaign_id)]
        chosen_features = {k: chosen.features.get(k) for k in model.campaign_features}
    probability, uplift = result.probability, result.uplift
    expected, expected_uplift = result.expected, result.expected_uplift
    return DecisionRecord(
        decision_id=result.decision_id,
        unit_id=unit_id,
        experiment=result.experiment,
        variant=result.variant,
        policy=result.policy,
        model_version=result.model_version,
        campaign_id=result.campaign_id,
        propensity=result.propensity,
        propensity_method=result.propensity_method,
        user_features=dict(item.user_features),
        candidates=[
            {
                "campaign_id": cid,
                "features": dict(item.candidates[j].features),
                "probability": {t: v[j] for t, v in probability.items()},
                "uplift": {t: v[j] for t, v in uplift.items()},
                "control": result.control,
                "propensity": result.propensities[j],
                **(
                    {
                        "expected": {r: v[j] for r, v in expected.items()},
                        "expected_uplift": {r: v[j] for r, v in expected_uplift.items()},
                    }
                    if expected
                    else {}
                ),
            }
            for j, cid in enumerate(result.campaign_ids)
        ],
        chosen_features=chosen_features,
        created_at=result.decided_at,
        deferred=item.defer_activation,
    )
