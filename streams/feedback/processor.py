"""Raw joiner inputs in, output records out: parse, check key and partition, join, watch quality.

Pure (no Kafka): :mod:`streams.feedback.app` feeds it the records faust reads.

- an invalid record, or one whose key is not its ``event_id``: ``feedback.dlq``;
- a feedback record on another partition than its key's (a producer that does not use
  Kafka's default partitioner, murmur2): it can never meet its score, so by the rule
  ``misrouted`` it is either re-routed (the original bytes, headers and timestamp,
  produced to its key's partition of ``feedback``, plus ``__streamscore.rerouted.from``) or
  dead-lettered with reason ``wrong_partition``. Counted, and logged at most once a
  minute, naming the producer setting to change;
- everything else goes to the join (:mod:`streams.feedback.join`); each new label updates the
  online quality (:mod:`streams.monitoring.quality`), which may add a concept-drift alert.

>>> from streams.feedback.join import JoinConfig, feedback_record
>>> p = JoinProcessor(ProcessorConfig("feedback", 6, "reroute", "feedback.dlq", "drift.alerts"),
...                   Join(JoinConfig(), {}), OnlineQuality(500, 0.2, 1_000))
>>> fb = orjson.dumps(feedback_record("a", 1, 1_767_225_600_000))  # b"a" belongs on 4
>>> out = p.handle(InRecord(Origin("feedback", 1, 7), b"a", fb), is_score=False, now_ms=0)
>>> [(r.topic, r.partition) for r in out], dict(p.misrouted)
([('feedback', 4)], {'reroute': 1})
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import orjson

from streams.contract.dead_letters import dead_letter
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin, OutRecord
from streams.contract.validation import DEFAULT_MAX_BYTES, Problem, load_object, parse_with_schema
from streams.feedback.entries import State
from streams.feedback.join import Join
from streams.monitoring.quality import OnlineQuality

log = logging.getLogger(__name__)

PROCESSOR = "streamscore-joiner"
H_REROUTED_FROM = "__streamscore.rerouted.from"
Misrouted = Literal["reroute", "dead_letter"]
_LOG_EVERY_MS = 60_000


@dataclass(frozen=True)
class ProcessorConfig:
    """Topics, the inputs' partition count and the rule for misrouted feedback."""

    feedback_topic: str
    partitions: int
    misrouted: Misrouted
    dlq_topic: str
    alerts_topic: str


_SCORE_TYPES: dict[str, type | tuple[type, ...]] = {
    "event_id": str,
    "account_id": str,
    "features": dict,
    "score": (int, float),
    "decision": str,
    "model_version": str,
    "event_time": int,
    "scored_at": int,
}


def parse_score(raw: bytes | None) -> State | Problem:
    """Parse a ``scores`` record, checking only the fields the join uses.

    Scores are streamscore's own output, checked against ``score.schema.json`` by the
    scorer's tests; a full JSON Schema pass here would cost ~0.7 ms a record.
    """
    obj = load_object(raw, DEFAULT_MAX_BYTES)
    if isinstance(obj, Problem):
        return obj
    for name, kind in _SCORE_TYPES.items():
        value = obj.get(name)
        if value is None:
            return Problem("missing_field", name, "required field is absent or null")
        if not isinstance(value, kind) or isinstance(value, bool):
            return Problem("wrong_type", name, f"unexpected {type(value).__name__}")
    return obj


class JoinProcessor:
    """Raw records in, output records out, for one joiner process."""

    def __init__(self, config: ProcessorConfig, join: Join, quality: OnlineQuality) -> None:
        self.config = config
        self.join = join
        self.quality = quality
        join.on_first_label = self._watch_quality
        self.index_dirty = True  # set on every rebalance: state was (re)loaded
        self.dead_letters: Counter[str] = Counter()
        self.misrouted: Counter[str] = Counter()  # by action taken
        self.handled: Counter[str] = Counter()  # records in, by input ("scores"/"feedback")
        self.alerts = 0
        self._alerts_out: list[OutRecord] = []
        self._origin: Origin | None = None
        self._next_log_ms = 0

    def handle(self, rec: InRecord, is_score: bool, now_ms: int) -> list[OutRecord]:
        """Process one record from ``scores`` (``is_score``) or ``feedback``."""
        if self.index_dirty:
            self.join.rebuild_index()
            self.index_dirty = False
        self.handled["scores" if is_score else "feedback"] += 1
        parsed = parse_score(rec.value) if is_score else parse_with_schema(rec.value, "feedback")
        if not isinstance(parsed, Problem) and rec.key != parsed["event_id"].encode():
            parsed = Problem("key_mismatch", "event_id", "record key is not its event_id")
        if isinstance(parsed, Problem):
            return [self._dead_letter(rec, parsed, now_ms)]
        o = self._origin = rec.origin
        if is_score:
            return self.join.on_score(parsed, o.partition, o.offset) + self._drain()
        assert rec.key is not None  # it equals the event id
        home = partition_for(rec.key, self.config.partitions)
        if home != o.partition:
            return [self._misrouted(rec, home, now_ms)]
        return self.join.on_feedback(parsed, o.partition, o.offset) + self._drain()

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
        """Each first label of an event: online quality, and a concept-drift alert."""
        version, label = labelled["model_version"], labelled["label"]
        alert = self.quality.update(
            version, label, labelled["score"], labelled["label_time"], self._origin
        )
        if alert is not None:
            self.alerts += 1
            key = version.encode()
            self._alerts_out.append(OutRecord(self.config.alerts_topic, key, orjson.dumps(alert)))

    def _drain(self) -> list[OutRecord]:
        out, self._alerts_out = self._alerts_out, []
        return out
