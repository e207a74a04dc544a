"""The scorer's pure core: one micro-batch of raw records in, output records out.

No Kafka here (see :mod:`streams.scoring.scorer` for the I/O). Per batch: parse and
validate each payload, assemble one feature matrix for the valid ones, predict once,
decide, and build one ``scores`` record per valid event and one ``events.dlq``
record per invalid one. If the model is missing or its prediction fails, the fallback
model (``fallback_version``) or else the rules score the batch, and the records say
``"fallback": true`` and the version that scored them.

>>> from streams.contract.records import Origin
>>> pipe = ScoringPipeline(model=None, config=PipelineConfig())
>>> out = pipe.process([InRecord(Origin("events", 0, 7), b"k", b"{bad")], now_ms=0)
>>> out.records[0].topic, dict(out.dead_letters)
('events.dlq', {'malformed_json': 1})
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from streams.config import ColdStartRoute, ReasonsMode, default
from streams.contract.dead_letters import dead_letter
from streams.contract.decisions import decide
from streams.contract.events import ROW_INDEX
from streams.contract.records import InRecord, Origin, OutRecord
from streams.contract.validation import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, Problem
from streams.contract.wire import Row, decode_events, event_times
from streams.model.artifact import Model
from streams.model.fallback import FALLBACK_VERSION, rule_scores
from streams.model.features import CONTRACT_LEVELS, FeatureAssembler, Matrix
from streams.model.reasons import Explained, explain, explained_rows, reason_values
from streams.scoring.account_state import AccountStates, events_of
from streams.scoring.challengers import ChallengerSet, Chosen, GuardTrip, LoadedChallenger
from streams.scoring.cold_start import route_decisions, route_scores
from streams.scoring.score_records import encode_scores, encode_shadow, feature_values

log = logging.getLogger(__name__)

_ACCOUNT_ID = ROW_INDEX["account_id"]


@dataclass(frozen=True)
class PipelineConfig:
    """Topic names, decision thresholds and input limits (defaults: the settings'; the
    scorer builds it from Settings with :func:`streams.scoring.factory.pipeline_config`)."""

    scores_topic: str = default("topic_scores")
    dlq_topic: str = default("topic_dlq")
    shadow_topic: str = default("topic_scores_shadow")
    review_threshold: float = default("review_threshold")
    decline_threshold: float = default("decline_threshold")
    reasons: ReasonsMode = default("reasons")  # noqa: RUF009 (a str: immutable)
    reasons_top_k: int = default("reasons_top_k")
    cold_start_route: ColdStartRoute = default("cold_start_route")  # noqa: RUF009 (a str)
    canary_guard_margin: float = default("canary_guard_margin")
    canary_guard_min_events: int = default("canary_guard_min_events")
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


@dataclass
class BatchResult:
    """Everything one batch produced, in input order, and its counts."""

    records: list[OutRecord] = field(default_factory=list)
    scored: int = 0
    fallback: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    shadow: Counter[str] = field(default_factory=Counter)  # shadow records by model version
    decided_by: Counter[str] = field(default_factory=Counter)  # scores by deciding version
    guard_trip: GuardTrip | None = None  # the canary guard stopped the canary in this batch
    scores: Matrix = field(default_factory=lambda: np.empty(0))
    features: Matrix = field(default_factory=lambda: np.empty((0, 0)))  # rows of valid events
    origins: list[Origin] = field(default_factory=list)  # of the valid events
    event_times: list[int] = field(default_factory=list)  # of the valid events
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage of this batch


def merge_results(results: Sequence[BatchResult]) -> BatchResult:
    """One result for a batch processed in consecutive parts, as if it had been whole:
    records in order, counts and stage seconds added up.

    >>> from streams.contract.records import Origin
    >>> pipe = ScoringPipeline(model=None, config=PipelineConfig())
    >>> bad = [InRecord(Origin("events", 0, i), None, b"{bad") for i in range(3)]
    >>> merged = merge_results([pipe.process(bad[:1], 0), pipe.process(bad[1:], 0)])
    >>> len(merged.records), dict(merged.dead_letters)
    (3, {'malformed_json': 3})
    """
    if len(results) == 1:
        return results[0]
    out = BatchResult()
    for part in results:
        out.records += part.records
        out.scored += part.scored
        out.fallback += part.fallback
        out.dead_letters.update(part.dead_letters)
        out.decisions.update(part.decisions)
        out.shadow.update(part.shadow)
        out.decided_by.update(part.decided_by)
        out.guard_trip = out.guard_trip or part.guard_trip
        out.origins += part.origins
        out.event_times += part.event_times
        for stage, secs in part.seconds.items():
            out.seconds[stage] = out.seconds.get(stage, 0.0) + secs
    if scored := [part for part in results if part.scored]:
        out.scores = np.concatenate([part.scores for part in scored])
        out.features = np.concatenate([part.features for part in scored])
    return out


def _count(result: BatchResult, decisions: list[str], versions: str | list[str]) -> None:
    """A batch's decisions, and how many each version decided."""
    result.decisions.update(decisions)
    if isinstance(versions, str):
        result.decided_by[versions] += len(decisions)
    else:
        result.decided_by.update(versions)


class ScoringPipeline:
    """Scores micro-batches with a model (or the fallback rules when it is None), and
    with its challengers (:mod:`streams.scoring.challengers`): shadows, and a canary that
    decides for its share of accounts until its guard trips."""

    def __init__(
        self,
        model: Model | None,
        config: PipelineConfig,
        challengers: Sequence[LoadedChallenger] = (),
        fallback: Model | None = None,
        states: AccountStates | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.fallback = fallback  # scores instead of the rules (its levels: the champion's)
        base = model or fallback
        self.assembler = base.assembler if base is not None else FeatureAssembler(CONTRACT_LEVELS)
        # the velocity state, fed only when the model's features include computed ones
        self.states = states if self.assembler.features.computed else None
        self.challengers = ChallengerSet(
            challengers if model is not None else (),
            config.canary_guard_margin,
            config.canary_guard_min_events,
        )

    def _predict(self, X: Matrix) -> tuple[Matrix, str | None]:
        """The scores, and the fallback version that made them (None: the champion)."""
        if self.model is not None:
            try:
                return self.model.predict(X), None
            except Exception:  # any model failure: score by fallback, never drop the batch
                log.exception("model prediction failed; scoring this batch by the fallback")
        if self.fallback is not None:
            try:
                return self.fallback.predict(X), self.fallback.version
            except Exception:
                log.exception("fallback model prediction failed; scoring this batch by rules")
        return rule_scores(X, self.assembler), FALLBACK_VERSION

    def process(self, batch: Sequence[InRecord], now_ms: int) -> BatchResult:
        """Score one micro-batch; output order follows input order."""
        result = BatchResult()
        t0 = time.perf_counter()
        cfg = self.config
        parsed = decode_events([r.value for r in batch], cfg.max_bytes, cfg.max_depth)
        ok = [i for i, item in enumerate(parsed) if type(item) is tuple]
        t1 = time.perf_counter()
        result.seconds["validate"] = t1 - t0
        out: list[OutRecord | None] = [None] * len(batch)
        if ok:
            t1 = self._score(batch, [parsed[i] for i in ok], ok, out, result, now_ms)  # type: ignore[misc]
        for i, item in enumerate(parsed):
            if isinstance(item, Problem):
                result.dead_letters[item.reason] += 1
                out[i] = dead_letter(
                    batch[i], item, stage="validate", dlq_topic=cfg.dlq_topic, now_ms=now_ms
                )
        # every slot of out is filled above; shadow records (if any) follow
        result.records = out + result.records  # type: ignore[assignment]
        result.seconds["records"] = time.perf_counter() - t1
        return result

    def _score(
        self,
        batch: Sequence[InRecord],
        rows: list[Row],
        ok: list[int],
        out: list[OutRecord | None],
        result: BatchResult,
        now_ms: int,
    ) -> float:
        """Features, one prediction, decisions and score records for the valid events;
        fills ``out`` at their positions and returns when prediction ended."""
        cfg = self.config
        t1 = time.perf_counter()
        origins, times = [batch[i].origin for i in ok], event_times(rows)
        observed = None
        if self.states is not None:
            observed = self.states.observe(list(map(events_of, rows)), origins)
        X = self.assembler.assemble_rows(rows, None if observed is None else observed.features)
        t2 = time.perf_counter()
        scores, fallback_version = self._predict(X)
        used_fallback = fallback_version is not None
        t3 = time.perf_counter()
        result.seconds["features"], result.seconds["predict"] = t2 - t1, t3 - t2
        chosen = self._choose((rows, times), X, scores, fallback_version)
        cold = None if observed is None else observed.cold
        flags = None
        if cold is not None:
            chosen, flags = route_scores(cfg.cold_start_route, chosen, X, cold, self.assembler)
        decisions = decide(chosen.scores, cfg.review_threshold, cfg.decline_threshold)
        if cold is not None:
            decisions = route_decisions(cfg.cold_start_route, decisions, cold)
        features = self.assembler.features
        values = feature_values(X, features.integral_index)
        t4 = time.perf_counter()
        explained = self._explain(X, (rows, values), decisions, chosen.versions)
        t3 += time.perf_counter() - t4  # explaining is a stage of its own, not "records"
        result.seconds["reasons"] = time.perf_counter() - t4
        encoded = encode_scores(
            rows,
            values,
            chosen.scores.tolist(),
            decisions,
            chosen.versions,
            used_fallback if flags is None else flags,
            origins,
            now_ms,
            explained,
            tuple(features.names),
            cold,
        )
        topic = cfg.scores_topic
        for i, (key, value) in zip(ok, encoded, strict=True):
            out[i] = OutRecord(topic, key, value)
        if chosen.others:
            self._shadow_records(rows, origins, chosen, result, now_ms)
        if observed is not None:  # after the scores and shadows, in the same transaction
            result.records += observed.changelog
        result.scores, result.features, result.scored = scores, X, len(ok)
        result.origins, result.event_times = origins, times
        result.fallback = len(ok) if used_fallback else sum(flags or ())
        _count(result, decisions, chosen.versions)
        return t3  # building score records counts as "records"

    def _explain(
        self,
        X: Matrix,
        batch: tuple[list[Row], list[tuple[float | int | None, ...]]],
        decisions: list[str],
        versions: str | list[str],
    ) -> list[Explained | None] | None:
        """The reasons of the scores the ``reasons`` setting selects, each by the model
        that decided it (none for the rules); None when no score has any."""
        which = explained_rows(decisions, self.config.reasons)
        if not which:
            return None
        rows, values = batch
        models = {m.version: m for m in (self.model, self.fallback) if m is not None}
        models.update((c.version, c.model) for c in self.challengers.loaded)
        by_version: dict[str, list[int]] = {}
        for i in which:
            version = versions if isinstance(versions, str) else versions[i]
            by_version.setdefault(version, []).append(i)
        out: list[Explained | None] = [None] * len(rows)
        for version, picks in by_version.items():
            model = models.get(version)  # absent: the rules decided, nothing to explain
            given = [reason_values(values[i], rows[i]) for i in picks]
            found = explain(model, X[picks], given, self.config.reasons_top_k) if model else None
            for i, why in zip(picks, found or repeat(None, len(picks)), strict=True):
                out[i] = why
        return out

    def _choose(
        self, batch: tuple[list[Row], list[int]], X: Matrix, scores: Matrix, fallback: str | None
    ) -> Chosen:
        """The deciding score and version of each event (``batch``: rows and event times):
        the champion's (or the fallback's), or the canary's for its accounts; with the
        challengers' scores."""
        if fallback is not None:
            return Chosen(scores, fallback)
        if not self.challengers:
            return Chosen(scores, self._version)
        rows, times = batch
        accounts = [row[_ACCOUNT_ID] for row in rows]
        champion = (self._version, scores)
        return self.challengers.choose((accounts, times), X, champion, self.config.review_threshold)

    def _shadow_records(
        self,
        rows: list[Row],
        origins: list[Origin],
        chosen: Chosen,
        result: BatchResult,
        now_ms: int,
    ) -> None:
        """``scores.shadow`` records (after the batch's others, in the same transaction):
        one per event and version that scored it without deciding."""
        cfg = self.config
        versions = chosen.versions
        per_event = [versions] * len(rows) if isinstance(versions, str) else versions
        deciding = (per_event, chosen.scores.tolist())
        for version, role, scores, rows_mask in chosen.others:
            which = np.flatnonzero(rows_mask).tolist()
            if not which:
                continue
            decisions = decide(scores, cfg.review_threshold, cfg.decline_threshold)
            by = (version, role, scores.tolist(), decisions)
            encoded = encode_shadow(rows, origins, which, by, deciding, now_ms)
            result.records += [OutRecord(cfg.shadow_topic, k, v) for k, v in encoded]
            result.shadow[version] += len(which)
        result.guard_trip = chosen.trip

    @property
    def _version(self) -> str:
        return self.model.version if self.model is not None else FALLBACK_VERSION
