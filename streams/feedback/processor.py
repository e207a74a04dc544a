"""Raw joiner inputs in, output records out: parse, check key and partition, join, watch quality.

Pure (no Kafka): :mod:`streams.feedback.app` feeds it what faust's consumer fetched,
a batch at a time (:meth:`JoinProcessor.handle_batch`).

- an invalid record, or one whose key is not its ``event_id``: ``feedback.dlq``;
- a feedback record on another partition than its key's (a producer that does not use
  Kafka's default partitioner, murmur2): it can never meet its score, so by the rule
  ``misrouted`` it is either re-routed (the original bytes, headers and timestamp,
  produced to its key's partition of ``feedback``, plus ``__streamscore.rerouted.from``) or
  dead-lettered with reason ``wrong_partition``. Counted, and logged at most once a
  minute, naming the producer setting to change;
- everything else goes to the join (:mod:`streams.feedback.join`); each new label updates the
  online quality (:mod:`streams.monitoring.quality`), which may add a concept-drift alert;
- each valid score, a batch at a time, and each new label feed the AUC estimate
  (:mod:`streams.monitoring.estimate`), which may add an estimate-divergence alert;
- ``scores.shadow`` records (:mod:`streams.feedback.shadow`), when read, go to the join
  too: each new one feeds the estimate of its version, and its first label that
  version's online quality and the estimate's label check, as a deciding score's does.

>>> from streams.feedback.examples import feedback_record
>>> from streams.feedback.join import JoinConfig
>>> p = JoinProcessor(ProcessorConfig("feedback", 6, "reroute", "feedback.dlq", "drift.alerts"),
...                   Join(JoinConfig(), {}), OnlineQuality(500, 0.2, 1_000))
>>> fb = orjson.dumps(feedback_record("a", 1, 1_767_225_600_000))  # b"a" belongs on 4
>>> out = p.handle(InRecord(Origin("feedback", 1, 7), b"a", fb), kind="feedback", now_ms=0)
>>> [(r.topic, r.partition) for r in out], dict(p.misrouted)
([('feedback', 4)], {'reroute': 1})
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

import orjson

from streams.contract.dead_letters import dead_letter
from streams.contract.join_inputs import ShadowIn, parse_feedback, parse_score, parse_shadow
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin, OutRecord
from streams.contract.validation import Problem
from streams.feedback.entries import ScoreIn, State, fast_score
from streams.feedback.join import Join
from streams.feedback.store import Change
from streams.model.features import FEATURE_NAMES, VELOCITY_SET
from streams.monitoring.estimate import PerformanceEstimator
from streams.monitoring.online_learner import OnlineLearner
from streams.monitoring.quality import OnlineQuality

log = logging.getLogger(__name__)

PROCESSOR = "streamscore-joiner"
H_REROUTED_FROM = "__streamscore.rerouted.from"
Misrouted = Literal["reroute", "dead_letter"]
_LOG_EVERY_MS = 60_000

Kind = Literal["scores", "feedback", "shadow"]
"""The input a record was read from (``shadow``: ``scores.shadow``)."""
Parsed = tuple[InRecord, Kind, State | ScoreIn | ShadowIn]
"""A record that passed its checks: the record, its input, its fields."""


@dataclass(frozen=True)
class ProcessorConfig:
    """Topics, the inputs' partition count and the rule for misrouted feedback."""

    feedback_topic: str
    partitions: int
    misrouted: Misrouted
    dlq_topic: str
    alerts_topic: str


@dataclass
class BatchOutput:
    """What one batch made: records to produce, and the state changes to changelog."""

    records: list[OutRecord]
    changes: dict[int, list[Change]]


class JoinProcessor:
    """Raw records in, output records out, for one joiner process."""

    def __init__(
        self,
        config: ProcessorConfig,
        join: Join,
        quality: OnlineQuality,
        estimate: PerformanceEstimator | None = None,
        online: OnlineLearner | None = None,
        cold_quality: OnlineQuality | None = None,
    ) -> None:
        self.config = config
        self.join = join
        self.quality = quality
        self.cold_quality = cold_quality  # the cold-start events' slice (no alerts of its own)
        self.estimate = estimate
        self.online = online  # learns each first label, once per batch
        self._to_learn: list[Learned] = []
        join.on_first_label = self._watch_quality
        join.on_shadow_label = self._watch
        self.index_dirty = True  # set on every rebalance: state was (re)loaded
        self.dead_letters: Counter[str] = Counter()
        self.misrouted: Counter[str] = Counter()  # by action taken
        self.handled: Counter[str] = Counter()  # records in, by input (a Kind)
        self.alerts = 0
        self._alerts_out: list[OutRecord] = []
        self._origin: Origin | None = None
        self._next_log_ms = 0
        self._new_shadow: list[tuple[str, float]] = []  # this batch's, for the estimate

    def handle(self, rec: InRecord, kind: bool | Kind, now_ms: int) -> list[OutRecord]:
        """Process one record of ``kind`` (True: ``scores``, False: ``feedback``)."""
        return self.handle_batch([(rec, kind)], now_ms).records

    def handle_batch(
        self, batch: Sequence[tuple[InRecord, bool | Kind]], now_ms: int
    ) -> BatchOutput:
        """Process records of ``scores``, ``feedback`` and ``scores.shadow`` (each with its
        :data:`Kind`; True and False: scores and feedback), in order: their outputs, and
        the state they changed (already in the store; the changelog's to write)."""
        if self.index_dirty:
            self.join.rebuild_index()
            self.index_dirty = False
        out: list[OutRecord] = []
        checked = (self._checked(rec, _kind(k), now_ms, out) for rec, k in batch)
        parsed = [p for p in checked if p is not None]
        for partition, keys in _keys_by_partition(parsed).items():
            self.join.prefetch(partition, keys)
        for rec, kind, fields in parsed:
            out += self._join(rec, kind, fields)
        if self.estimate is not None:
            self.estimate.observe_pairs([*_version_scores(parsed), *self._new_shadow])
        self._new_shadow = []
        if self.online is not None and self._to_learn:
            self.online.learn(self._to_learn)
            self._to_learn = []
        changes = self.join.flush()
        for partition in {rec.origin.partition for rec, _, _ in parsed}:
            out += self.join.expire(partition)
        for partition, more in self.join.flush().items():
            changes.setdefault(partition, []).extend(more)
        # counted once the batch is in the store: a reader of the count then sees its state
        self.handled.update(_kind(k) for _, k in batch)
        return BatchOutput(out, changes)

    def _checked(
        self, rec: InRecord, kind: Kind, now_ms: int, out: list[OutRecord]
    ) -> Parsed | None:
        """The parsed record, or None with its dead letter or re-route added to ``out``."""
        fast = fast_score(rec.value) if kind == "scores" else None
        if fast is not None and rec.key == fast.event_id.encode():
            return rec, kind, fast
        parsed = _parse(rec.value, kind)
        if not isinstance(parsed, Problem) and rec.key != _event_id(parsed).encode():
            parsed = Problem("key_mismatch", "event_id", "record key is not its event_id")
        if isinstance(parsed, Problem):
            out.append(self._dead_letter(rec, parsed, now_ms))
            return None
        if kind == "feedback":
            assert rec.key is not None  # it equals the event id
            home = partition_for(rec.key, self.config.partitions)
            if home != rec.origin.partition:
                out.append(self._misrouted(rec, home, now_ms))
                return None
        return rec, kind, parsed

    def _join(
        self, rec: InRecord, kind: Kind, fields: State | ScoreIn | ShadowIn
    ) -> list[OutRecord]:
        o = self._origin = rec.origin
        if isinstance(fields, ShadowIn):
            if self.join.on_shadow(fields, o.partition, o.offset):
                self._new_shadow.append((fields.model_version, fields.score))
            return self._drain()
        if kind == "scores":
            return self.join.on_score(fields, o.partition, o.offset) + self._drain()
        assert isinstance(fields, dict)
        raw = rec.value
        return self.join.on_feedback(fields, o.partition, o.offset, raw) + self._drain()

    def _dead_letter(self, rec: InRecord, problem: Problem, now_ms: int) -> OutRecord:
        self.dead_letters[problem.reason] += 1
        return dead_letter(
            rec,
            problem,
            stage="join",
            dlq_topic=self.config.dlq_topic,
            now_ms=now_ms,
            processor=PROCESSOR,
        )

    def _misrouted(self, rec: InRecord, home: int, now_ms: int) -> OutRecord:
        """Feedback on a partition its score never reaches: re-route or dead-letter it."""
        action = self.config.misrouted
        self.misrouted[action] += 1
        o = rec.origin
        if now_ms >= self._next_log_ms:
            self._next_log_ms = now_ms + _LOG_EVERY_MS
            log.warning(
                "feedback on the wrong partition: its producer does not use Kafka's default "
                "partitioner (librdkafka: set partitioner=murmur2_random; the Java client's "
                "default is right)",
                extra={
                    **o.log_context(),
                    "expected_partition": home,
                    "action": action,
                    "misrouted_so_far": sum(self.misrouted.values()),
                },
            )
        if action == "dead_letter":
            message = f"key belongs on partition {home} (murmur2), record is on {o.partition}"
            return self._dead_letter(rec, Problem("wrong_partition", None, message), now_ms)
        marker = f"{o.topic}/{o.partition}/{o.offset}".encode()
        headers = [*rec.read_headers(), (H_REROUTED_FROM, marker)]
        return OutRecord(
            self.config.feedback_topic, rec.key, rec.value, headers, o.timestamp_ms, partition=home
        )

    def _watch_quality(self, labelled: State) -> None:
        """Each first label of an event, on its deciding score."""
        v = labelled
        self._watch(v["model_version"], v["label"], v["score"], v["label_time"])
        if self.cold_quality is not None and v.get("cold_start"):
            self.cold_quality.update(
                v["model_version"], v["label"], v["score"], v["label_time"], self._origin
            )
        if self.online is not None:
            self._to_learn.append(learned(v))

    def _watch(self, version: str, label: int, score: float, time_ms: int) -> None:
        """A first label of ``version``'s score of an event (deciding or shadow): online
        quality and the estimate's label check, and their alerts."""
        alert = self.quality.update(version, label, score, time_ms, self._origin)
        if alert is not None:
            self.alerts += 1
            self._alert(version, alert)
        if self.estimate is not None:
            estimated = self.estimate.label(version, label, score, time_ms, self._origin)
            if estimated is not None:
                self._alert(version, estimated)

    def _alert(self, version: str, alert: dict[str, object]) -> None:
        key = version.encode()
        self._alerts_out.append(OutRecord(self.config.alerts_topic, key, orjson.dumps(alert)))

    def _drain(self) -> list[OutRecord]:
        out, self._alerts_out = self._alerts_out, []
        return out


class Learned(NamedTuple):
    """What the online learner takes of a labelled record."""

    features: tuple[float, ...]  # in model order, NaN for missing
    label: int
    event_time: int


def learned(labelled: State) -> Learned:
    """A labelled record's features (as the model saw them: the event's, and the computed
    ones if the record has them all), label and event time."""
    features = labelled["features"]
    names = VELOCITY_SET.names if VELOCITY_SET.name_set.issubset(features) else FEATURE_NAMES
    values = (features.get(name) for name in names)
    row = tuple(math.nan if v is None else float(v) for v in values)
    return Learned(row, labelled["label"], labelled["event_time"])


def _kind(kind: bool | Kind) -> Kind:
    """True and False as the kinds they stand for (scores, feedback)."""
    if isinstance(kind, bool):
        return "scores" if kind else "feedback"
    return kind


def _parse(raw: bytes | None, kind: Kind) -> State | ShadowIn | Problem:
    """A record of ``kind`` parsed on the exact path (the fast one failed or was not tried)."""
    if kind == "shadow":
        return parse_shadow(raw)
    return parse_score(raw) if kind == "scores" else parse_feedback(raw)


def _event_id(fields: State | ScoreIn | ShadowIn) -> str:
    return fields["event_id"] if isinstance(fields, dict) else fields.event_id


def _version_scores(parsed: list[Parsed]) -> Iterator[tuple[str, float]]:
    """(model version, score) of each deciding score in ``parsed``, in order."""
    for _, kind, fields in parsed:
        if isinstance(fields, ScoreIn):
            yield fields.model_version, fields.score
        elif kind == "scores":
            v = cast(State, fields)
            yield v["model_version"], v["score"]


def _keys_by_partition(parsed: list[Parsed]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for rec, _, fields in parsed:
        out.setdefault(rec.origin.partition, []).append(_event_id(fields))
    return out
