"""The feedback join's pure core: scores ⋈ feedback → labelled, over any mutable mapping.

In production the mapping is a faust Table backed by a changelog (see
:mod:`streams.joiner`); in tests it is a dict. One entry per event id holds what
has arrived for that event (JSON-serialisable, always re-assigned so the table
notices). Either side may come first.

- score then feedback, or feedback then score: one ``labelled`` record;
- the same feedback again (same ``feedback_id``): ignored, counted as a duplicate;
- another feedback for a labelled event: a labelled record with ``correction: true``;
- state expires ``retention_ms`` of event time after it was last touched; expiry is
  driven per partition by the largest event/label time seen on that partition, so a
  partition without traffic keeps its state (its clock has not moved);
- feedback whose score never arrives within retention → ``feedback.unmatched``
  with reason ``no_matching_score`` (an expired score and an unknown event look
  alike here: remembering expired ids would make state unbounded).

Labelled records hold no wall-clock time, so one re-emitted after a crash is
byte-identical to the first (the topic is keyed by event id and can be compacted).

>>> j = Join(JoinConfig(), state={})
>>> j.on_score(score_record("e1", event_time=1_000), partition=0)
[]
>>> [r.topic for r in j.on_feedback(feedback_record("e1", label=1, label_time=5_000), 0)]
['labelled']
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.dlq import dead_letter
from streams.quality import OnlineQuality
from streams.records import InRecord, Origin, OutRecord
from streams.validation import DEFAULT_MAX_BYTES, Problem, load_object, parse_with_schema

PROCESSOR = "streamscore-joiner"

State = dict[str, Any]
DAY_MS = 86_400_000
_SCORE_FIELDS = ("account_id", "features", "score", "decision", "model_version", "event_time",
                 "scored_at")  # fmt: skip
_SEEN_LIMIT = 16  # feedback ids remembered per event, for duplicate detection


@dataclass(frozen=True)
class JoinConfig:
    """Output topics and retention."""

    labelled_topic: str = "labelled"
    unmatched_topic: str = "feedback.unmatched"
    retention_ms: int = 7 * DAY_MS


@dataclass
class JoinCounts:
    """What the join did (exported as metrics)."""

    joined: int = 0
    corrections: int = 0
    duplicates: int = 0
    duplicate_scores: int = 0
    expired: int = 0
    unmatched: Counter[str] = field(default_factory=Counter)


def score_record(event_id: str, event_time: int, score: float = 0.5, **extra: Any) -> State:
    """A schema-valid parsed score record (for examples and tests)."""
    base = {"event_id": event_id, "account_id": "a", "event_time": event_time, "score": score,
            "decision": "approve", "model_version": "v", "fallback": False, "features": {},
            "event_timestamp": event_time, "scored_at": event_time,
            "source": {"topic": "events", "partition": 0, "offset": 0}}  # fmt: skip
    return {**base, **extra}


def feedback_record(
    event_id: str, label: int, label_time: int, feedback_id: str | None = None
) -> State:
    """A minimal parsed feedback record (for examples and tests)."""
    return {"feedback_id": feedback_id or f"fb-{event_id}-{label_time}", "event_id": event_id,
            "label": label, "label_source": "chargeback", "label_time": label_time}  # fmt: skip


class Join:
    """Join logic over ``state`` (event id → entry), with a per-partition expiry index."""

    def __init__(self, config: JoinConfig, state: MutableMapping[str, State]) -> None:
        self.config = config
        self.state = state
        self.counts = JoinCounts()
        self._expiry: dict[int, list[tuple[int, str]]] = {}
        self._clock: dict[int, int] = {}
        # entries in state, counted here: len() of a RocksDB-backed table reads all of
        # it; rebuild_index() counts a state that was loaded (recovery, rebalance)
        self._size = 0

    # -- inputs ---------------------------------------------------------------------
    def on_score(self, score: State, partition: int) -> list[OutRecord]:
        """A score arrived; emit a labelled record if its feedback is waiting."""
        event_id = score["event_id"]
        entry = dict(self.state.get(event_id) or {})
        if "score" in entry:
            self.counts.duplicate_scores += 1  # at-least-once redelivery upstream
            return self._advance(partition, score["event_time"])
        entry["score"] = {k: score[k] for k in _SCORE_FIELDS}
        out = []
        for fb in sorted(entry.pop("pending", []), key=lambda f: f["label_time"]):
            out += self._label(event_id, entry, fb)
        self._store(event_id, entry, partition, score["event_time"])
        return out + self._advance(partition, score["event_time"])

    def on_feedback(self, fb: State, partition: int) -> list[OutRecord]:
        """A feedback arrived; emit a labelled record if its score is here, else wait."""
        event_id = fb["event_id"]
        entry = dict(self.state.get(event_id) or {})
        if fb["feedback_id"] in entry.get("seen", []):
            self.counts.duplicates += 1
            return self._advance(partition, fb["label_time"])
        entry["seen"] = [*entry.get("seen", []), fb["feedback_id"]][-_SEEN_LIMIT:]
        out = []
        if "score" in entry:
            out = self._label(event_id, entry, fb)
        else:
            entry["pending"] = [*entry.get("pending", []), fb]
        self._store(event_id, entry, partition, fb["label_time"])
        return out + self._advance(partition, fb["label_time"])

    # -- state ----------------------------------------------------------------------
    def _label(self, event_id: str, entry: State, fb: State) -> list[OutRecord]:
        previous = entry.get("label")
        correction = previous is not None
        entry["label"] = fb["label"]
        self.counts.joined += 1
        self.counts.corrections += correction
        s = entry["score"]
        value = {
            "event_id": event_id,
            "account_id": s["account_id"],
            "features": s["features"],
            "score": s["score"],
            "decision": s["decision"],
            "model_version": s["model_version"],
            "label": fb["label"],
            "label_source": fb["label_source"],
            "feedback_id": fb["feedback_id"],
            "event_time": s["event_time"],
            "score_time": s["scored_at"],
            "label_time": fb["label_time"],
            "label_delay_ms": fb["label_time"] - s["event_time"],
            "correction": correction,
            "previous_label": previous,
        }
        return [OutRecord(self.config.labelled_topic, event_id.encode(), orjson.dumps(value), [])]

    def _store(self, event_id: str, entry: State, partition: int, time_ms: int) -> None:
        if "exp" not in entry:  # every stored entry has one: this event id is new
            self._size += 1
        expires = max(entry.get("exp", 0), time_ms + self.config.retention_ms)
        entry["exp"], entry["p"] = expires, partition
        self.state[event_id] = entry
        heapq.heappush(self._expiry.setdefault(partition, []), (expires, event_id))

    def _advance(self, partition: int, time_ms: int) -> list[OutRecord]:
        """Move ``partition``'s event-time clock and expire what retention has passed."""
        now = max(self._clock.get(partition, 0), time_ms)
        self._clock[partition] = now
        heap, out = self._expiry.get(partition, []), []
        while heap and heap[0][0] < now:
            expires, event_id = heapq.heappop(heap)
            entry = self.state.get(event_id)
            if entry is None or entry.get("exp") != expires:
                continue  # superseded by a later update, or already gone
            del self.state[event_id]
            self._size -= 1
            self.counts.expired += 1
            for fb in entry.get("pending", []):
                out.append(self._unmatched(fb, "no_matching_score"))
        return out

    def _unmatched(self, fb: State, reason: str) -> OutRecord:
        self.counts.unmatched[reason] += 1
        value = orjson.dumps({**fb, "reason": reason})
        return OutRecord(self.config.unmatched_topic, fb["event_id"].encode(), value, [])

    def rebuild_index(self) -> None:
        """Rebuild the expiry index from ``state`` (after recovery or a rebalance)."""
        self._expiry, self._size = {}, 0
        for event_id, entry in self.state.items():
            heapq.heappush(self._expiry.setdefault(entry["p"], []), (entry["exp"], event_id))
            self._size += 1

    def __len__(self) -> int:
        """Entries in state (kept as a count: no scan of the store)."""
        return self._size


_SCORE_TYPES: dict[str, type | tuple[type, ...]] = {
    "event_id": str, "account_id": str, "features": dict, "score": (int, float),
    "decision": str, "model_version": str, "event_time": int, "scored_at": int,
}  # fmt: skip


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
    """Raw records in, output records out: parse, check the key, join, watch quality."""

    def __init__(
        self, join: Join, quality: OnlineQuality, dlq_topic: str, alerts_topic: str
    ) -> None:
        self.join = join
        self.quality = quality
        self.dlq_topic = dlq_topic
        self.alerts_topic = alerts_topic
        self.index_dirty = True  # set on every rebalance: state was (re)loaded
        self.dead_letters: Counter[str] = Counter()
        self.handled: Counter[str] = Counter()  # records in, by input ("scores"/"feedback")
        self.alerts = 0

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
            self.dead_letters[parsed.reason] += 1
            return [
                dead_letter(
                    rec,
                    parsed,
                    stage="join",
                    dlq_topic=self.dlq_topic,
                    now_ms=now_ms,
                    processor=PROCESSOR,
                )
            ]
        p = rec.origin.partition
        out = self.join.on_score(parsed, p) if is_score else self.join.on_feedback(parsed, p)
        return out + self._watch_quality(out, rec.origin)

    def _watch_quality(self, out: list[OutRecord], origin: Origin) -> list[OutRecord]:
        alerts = []
        for rec in out:
            if rec.topic != self.join.config.labelled_topic:
                continue
            labelled = orjson.loads(rec.value or b"{}")
            if labelled["correction"]:
                continue
            alert = self.quality.update(
                labelled["model_version"],
                labelled["label"],
                labelled["score"],
                labelled["label_time"],
                origin,
            )
            if alert is not None:
                self.alerts += 1
                key = labelled["model_version"].encode()
                alerts.append(OutRecord(self.alerts_topic, key, orjson.dumps(alert), []))
        return alerts
