"""The feedback join's pure core: scores ⋈ feedback → labelled, over any mutable mapping.

In production the mapping is a faust Table backed by a changelog (see
:mod:`streams.feedback.app`); in tests it is a dict. One entry per event id holds what
has arrived for that event (JSON-serialisable, always re-assigned so the table
notices). Either side may come first.

- score then feedback, or feedback then score: one ``labelled`` record;
- the same feedback again (same ``feedback_id``, another record): ignored, counted as
  a duplicate;
- another feedback for a labelled event: a labelled record with ``correction: true``;
- state expires ``retention_ms`` of event time after it was last touched; expiry is
  driven per partition by the largest event/label time seen on that partition, so a
  partition without traffic keeps its state (its clock has not moved);
- feedback whose score never arrives within retention → ``feedback.unmatched``
  with reason ``no_matching_score`` (an expired score and an unknown event look
  alike here: remembering expired ids would make state unbounded).

**Replays.** The entry keeps the source offset of its score and of each feedback.
After a crash the joiner reads again from the last committed input offsets, while
its state may already hold what it did with those records (the local store and the
changelog are written before the outputs are confirmed and the offsets committed).
A record read again at the offset the entry holds is a replay, not a duplicate: it
emits again exactly the labelled records it emitted the first time, byte for byte
(the previous label of each is kept for that), so nothing is lost and a re-emit is
harmless on a topic keyed by event id. Labelled records hold no wall-clock time.

>>> j = Join(JoinConfig(), state={})
>>> j.on_score(score_record("e1", event_time=1_000), partition=0, offset=0)
[]
>>> fb = feedback_record("e1", label=1, label_time=5_000)
>>> [r.topic for r in j.on_feedback(fb, partition=0, offset=0)]
['labelled']
>>> [r.topic for r in j.on_feedback(fb, partition=0, offset=0)]  # read again: a replay
['labelled']
>>> j.on_feedback(fb, partition=0, offset=1), j.counts.duplicates  # another copy
([], 1)
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.config import Settings, default
from streams.contract.records import OutRecord
from streams.feedback.entries import (
    BY_SCORE,
    HOW,
    ID,
    OFFSET,
    ON_ARRIVAL,
    PREVIOUS,
    RECORD,
    SCORE_FIELDS,
    WAITING,
    State,
    bounded,
    labelled_value,
    read_entry,
)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class JoinConfig:
    """Output topics and retention (defaults: the settings')."""

    labelled_topic: str = default("topic_labelled")
    unmatched_topic: str = default("topic_feedback_unmatched")
    retention_ms: int = default("join_retention_ms")

    @classmethod
    def from_settings(cls, settings: Settings) -> JoinConfig:
        """The join's part of the settings."""
        return cls(
            settings.topic_labelled, settings.topic_feedback_unmatched, settings.join_retention_ms
        )


@dataclass
class JoinCounts:
    """What the join did (exported as metrics)."""

    joined: int = 0
    corrections: int = 0
    duplicates: int = 0
    duplicate_scores: int = 0
    replayed: int = 0  # inputs read again after a crash or rebalance
    reemitted: int = 0  # labelled records emitted again by those replays
    expired: int = 0
    unmatched: Counter[str] = field(default_factory=Counter)


def score_record(event_id: str, event_time: int, score: float = 0.5, **extra: Any) -> State:
    """A schema-valid parsed score record (for examples and tests)."""
    base = {
        "event_id": event_id,
        "account_id": "a",
        "event_time": event_time,
        "score": score,
        "decision": "approve",
        "model_version": "v",
        "fallback": False,
        "features": {},
        "event_timestamp": event_time,
        "scored_at": event_time,
        "source": {"topic": "events", "partition": 0, "offset": 0},
    }
    return {**base, **extra}


def feedback_record(
    event_id: str, label: int, label_time: int, feedback_id: str | None = None
) -> State:
    """A minimal parsed feedback record (for examples and tests)."""
    return {
        "feedback_id": feedback_id or f"fb-{event_id}-{label_time}",
        "event_id": event_id,
        "label": label,
        "label_source": "chargeback",
        "label_time": label_time,
    }


FirstLabel = Callable[[State], None]
"""Called with each new (not corrected, not replayed) labelled value: online quality."""


class Join:
    """Join logic over ``state`` (event id → entry), with a per-partition expiry index."""

    def __init__(
        self,
        config: JoinConfig,
        state: MutableMapping[str, State],
        on_first_label: FirstLabel | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.counts = JoinCounts()
        self.on_first_label = on_first_label
        self._expiry: dict[int, list[tuple[int, str]]] = {}
        self._clock: dict[int, int] = {}
        # entries in state, counted here: len() of a RocksDB-backed table reads all of
        # it; rebuild_index() counts a state that was loaded (recovery, rebalance)
        self._size = 0

    # -- inputs ---------------------------------------------------------------------
    def on_score(self, score: State, partition: int, offset: int) -> list[OutRecord]:
        """A score arrived from ``partition`` at ``offset``; label the feedback waiting."""
        event_id = score["event_id"]
        entry = read_entry(self.state.get(event_id))
        if "score" in entry:
            out = self._score_again(event_id, entry, offset)
            return out + self._advance(partition, score["event_time"])
        entry["score"], entry["so"] = {k: score[k] for k in SCORE_FIELDS}, offset
        out = []
        waiting = [s for s in entry["seen"] if s[HOW] == WAITING]
        for seen in sorted(waiting, key=lambda s: s[RECORD]["label_time"]):
            seen[HOW], seen[PREVIOUS] = BY_SCORE, entry.get("label")
            out.append(self._label(event_id, entry, seen[RECORD]))
        self._store(event_id, entry, partition, score["event_time"])
        return out + self._advance(partition, score["event_time"])

    def on_feedback(self, fb: State, partition: int, offset: int) -> list[OutRecord]:
        """A feedback arrived from ``partition`` at ``offset``; label it if its score is
        here, else keep it waiting."""
        event_id = fb["event_id"]
        entry = read_entry(self.state.get(event_id))
        known = next((s for s in entry["seen"] if s[ID] == fb["feedback_id"]), None)
        if known is not None:
            out = self._feedback_again(event_id, entry, known, fb, offset)
            return out + self._advance(partition, fb["label_time"])
        out = []
        if "score" in entry:
            seen = [fb["feedback_id"], offset, ON_ARRIVAL, entry.get("label"), None]
            out.append(self._label(event_id, entry, fb))
        else:
            seen = [fb["feedback_id"], offset, WAITING, None, fb]
        entry["seen"] = bounded([*entry["seen"], seen])
        self._store(event_id, entry, partition, fb["label_time"])
        return out + self._advance(partition, fb["label_time"])

    # -- records read again -----------------------------------------------------------
    def _score_again(self, event_id: str, entry: State, offset: int) -> list[OutRecord]:
        if entry.get("so") != offset:
            self.counts.duplicate_scores += 1  # at-least-once redelivery upstream
            return []
        self.counts.replayed += 1
        joined = [s for s in entry["seen"] if s[HOW] == BY_SCORE]
        out = [
            self._labelled(event_id, entry["score"], s[RECORD], s[PREVIOUS])
            for s in sorted(joined, key=lambda s: s[RECORD]["label_time"])
        ]
        self.counts.reemitted += len(out)
        return out

    def _feedback_again(
        self, event_id: str, entry: State, known: list[Any], fb: State, offset: int
    ) -> list[OutRecord]:
        if known[OFFSET] != offset:
            self.counts.duplicates += 1
            return []
        self.counts.replayed += 1
        if known[HOW] != ON_ARRIVAL:
            return []  # still waiting, or labelled by its score (whose replay emits it)
        self.counts.reemitted += 1
        return [self._labelled(event_id, entry["score"], fb, known[PREVIOUS])]

    # -- state ----------------------------------------------------------------------
    def _label(self, event_id: str, entry: State, fb: State) -> OutRecord:
        """A new label for ``entry``: count it, remember it, build its record."""
        previous = entry.get("label")
        entry["label"] = fb["label"]
        self.counts.joined += 1
        self.counts.corrections += previous is not None
        value = labelled_value(event_id, entry["score"], fb, previous)
        if previous is None and self.on_first_label is not None:
            self.on_first_label(value)
        return self._record(event_id, value)

    def _labelled(self, event_id: str, s: State, fb: State, previous: int | None) -> OutRecord:
        return self._record(event_id, labelled_value(event_id, s, fb, previous))

    def _record(self, event_id: str, value: State) -> OutRecord:
        return OutRecord(self.config.labelled_topic, event_id.encode(), orjson.dumps(value), [])

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
            for seen in read_entry(entry)["seen"]:
                if seen[HOW] == WAITING:
                    out.append(self._unmatched(seen[RECORD], "no_matching_score"))
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
