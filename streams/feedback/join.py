"""The feedback join's pure core: scores ⋈ feedback → labelled, over a store of entries.

One entry per event id (:mod:`streams.feedback.entries`) holds what has arrived for
that event, in a :class:`~streams.feedback.store.JoinStore`: a faust table in
production (:mod:`streams.feedback.app`), a dict in tests. Either side may come first.

- score then feedback, or feedback then score: one ``labelled`` record;
- the same feedback again (same ``feedback_id``, another record): ignored, counted as
  a duplicate;
- another feedback for a labelled event: a labelled record with ``correction: true``;
- state expires ``retention_ms`` of event time after it was last touched; expiry is
  driven per partition by the largest event/label time seen on that partition, so a
  partition without traffic keeps its state (its clock has not moved);
- feedback whose score never came within retention → ``feedback.unmatched``,
  ``no_matching_score``; feedback for an event whose score expired (its entry stays
  as a small marker for one more retention period) → ``feedback.unmatched``,
  ``score_expired``, at once.

**Replays.** The entry keeps the source offset of its score and of each feedback.
After a crash the joiner reads again from the last committed input offsets, while
its state may already hold what it did with those records. A record read again at the
offset the entry holds is a replay, not a duplicate: it emits again exactly the
labelled records it emitted the first time, byte for byte (the previous label of each
is kept for that). Labelled records hold no wall-clock time.

**Batches.** Entries are read once per batch (:meth:`Join.prefetch`), changed in a
cache, and written back together (:meth:`Join.flush`, which returns the changes for the
changelog); :meth:`Join.expire` expires what the partition's clock has passed. Given a
plain dict, every call reads and writes through at once.

>>> from streams.feedback.examples import feedback_record, score_record
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

from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.config import Settings, default
from streams.contract.records import OutRecord
from streams.feedback.entries import (
    BY_SCORE,
    ON_ARRIVAL,
    WAITING,
    Entry,
    ScoreIn,
    Seen,
    State,
    StoredScore,
    bounded,
    decode,
    encode,
    expiry_of,
    labelled_value,
    stored_score,
)
from streams.feedback.store import Change, DictStore, JoinStore

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


FirstLabel = Callable[[State], None]
"""Called with each new (not corrected, not replayed) labelled value: online quality."""


class Join:
    """Join logic over a :class:`JoinStore` (or a dict), batch by batch."""

    def __init__(
        self,
        config: JoinConfig,
        state: JoinStore | MutableMapping[Any, Any],
        on_first_label: FirstLabel | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.store: JoinStore
        if isinstance(state, MutableMapping):  # a plain dict: write through, per record
            self.store, self._through = DictStore(state, expiry_of=expiry_of), True
        else:
            self.store, self._through = state, False
        self.counts = JoinCounts()
        self.on_first_label = on_first_label
        self._clock: dict[int, int] = {}
        self._cache: dict[str, Entry | None] = {}  # read this batch; None: none stored
        self._dirty: dict[str, int] = {}  # changed this batch -> partition

    # -- inputs ---------------------------------------------------------------------
    def on_score(self, score: State | ScoreIn, partition: int, offset: int) -> list[OutRecord]:
        """A score arrived from ``partition`` at ``offset``; label the feedback waiting."""
        if isinstance(score, ScoreIn):
            event_id, event_time = score.event_id, score.event_time
        else:
            event_id, event_time = score["event_id"], score["event_time"]
        entry = self._load(partition, event_id)
        if entry is not None and (entry.score is not None or entry.gone):
            out = self._score_again(event_id, entry, offset)
        else:
            entry = entry or Entry(0, partition)
            entry.score = score.stored() if isinstance(score, ScoreIn) else stored_score(score)
            entry.so = offset
            out = self._label_waiting(event_id, entry)
            self._put(event_id, entry, event_time)
        return out + self._advance(partition, event_time)

    def on_feedback(
        self, fb: State, partition: int, offset: int, raw: bytes | None = None
    ) -> list[OutRecord]:
        """A feedback arrived from ``partition`` at ``offset`` (``raw``: its bytes); label
        it if its score is here, else keep it waiting."""
        event_id = fb["event_id"]
        entry = self._load(partition, event_id) or Entry(0, partition)
        if entry.gone:
            out = [self._unmatched(raw or orjson.dumps(fb), event_id, "score_expired")]
            return out + self._advance(partition, fb["label_time"])
        known = next((s for s in entry.seen if s.feedback_id == fb["feedback_id"]), None)
        if known is not None:
            out = self._feedback_again(event_id, entry, known, fb, offset)
            return out + self._advance(partition, fb["label_time"])
        out = []
        if entry.score is not None:
            seen = Seen(fb["feedback_id"], offset, ON_ARRIVAL, entry.label, None)
            out.append(self._label(event_id, entry, fb))
        else:
            seen = Seen(fb["feedback_id"], offset, WAITING, None, raw or orjson.dumps(fb))
        entry.seen = bounded([*entry.seen, seen])
        self._put(event_id, entry, fb["label_time"])
        return out + self._advance(partition, fb["label_time"])

    # -- records read again -----------------------------------------------------------
    def _score_again(self, event_id: str, entry: Entry, offset: int) -> list[OutRecord]:
        if entry.so != offset:
            self.counts.duplicate_scores += 1  # at-least-once redelivery upstream
            return []
        self.counts.replayed += 1
        if entry.score is None:
            return []  # expired since: what it emitted was committed long ago
        joined = [s for s in entry.seen if s.how == BY_SCORE and s.record is not None]
        out = [
            self._labelled(event_id, entry.score, fb, s.previous)
            for s, fb in _by_label_time(joined)
        ]
        self.counts.reemitted += len(out)
        return out

    def _feedback_again(
        self, event_id: str, entry: Entry, known: Seen, fb: State, offset: int
    ) -> list[OutRecord]:
        if known.offset != offset:
            self.counts.duplicates += 1
            return []
        self.counts.replayed += 1
        if known.how != ON_ARRIVAL or entry.score is None:
            return []  # still waiting, or labelled by its score (whose replay emits it)
        self.counts.reemitted += 1
        return [self._labelled(event_id, entry.score, fb, known.previous)]

    # -- labels -------------------------------------------------------------------------
    def _label_waiting(self, event_id: str, entry: Entry) -> list[OutRecord]:
        """The score just came: label the feedback waiting for it, in label-time order."""
        out = []
        for seen, fb in _by_label_time([s for s in entry.seen if s.how == WAITING]):
            seen.how, seen.previous = BY_SCORE, entry.label
            out.append(self._label(event_id, entry, fb))
        return out

    def _label(self, event_id: str, entry: Entry, fb: State) -> OutRecord:
        """A new label for ``entry``: count it, remember it, build its record."""
        assert entry.score is not None
        previous, entry.label = entry.label, fb["label"]
        self.counts.joined += 1
        self.counts.corrections += previous is not None
        value = labelled_value(event_id, entry.score, fb, previous)
        if previous is None and self.on_first_label is not None:
            self.on_first_label(value)
        return self._record(event_id, value)

    def _labelled(
        self, event_id: str, s: StoredScore, fb: State, previous: int | None
    ) -> OutRecord:
        return self._record(event_id, labelled_value(event_id, s, fb, previous))

    def _record(self, event_id: str, value: State) -> OutRecord:
        return OutRecord(self.config.labelled_topic, event_id.encode(), orjson.dumps(value), [])

    def _unmatched(self, raw: bytes, event_id: str, reason: str) -> OutRecord:
        self.counts.unmatched[reason] += 1
        value = orjson.dumps({**orjson.loads(raw), "reason": reason})
        return OutRecord(self.config.unmatched_topic, event_id.encode(), value, [])

    # -- state ----------------------------------------------------------------------------
    def prefetch(self, partition: int, keys: Sequence[str]) -> None:
        """Read the entries of ``keys`` in one call, for the records of a batch."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._cache]
        for key, value in zip(missing, self.store.get_many(partition, missing), strict=True):
            self._cache[key] = None if value is None else decode(value)

    def _load(self, partition: int, key: str) -> Entry | None:
        if key not in self._cache:
            self.prefetch(partition, [key])
        return self._cache[key]

    def _put(self, key: str, entry: Entry, time_ms: int) -> None:
        entry.exp = max(entry.exp, time_ms + self.config.retention_ms)
        self._cache[key], self._dirty[key] = entry, entry.p

    def _delete(self, key: str, partition: int) -> None:
        self._cache[key], self._dirty[key] = None, partition

    def flush(self) -> dict[int, list[Change]]:
        """Write the batch's changes to the store; them, per partition (for the changelog)."""
        out: dict[int, list[Change]] = {}
        for key, partition in self._dirty.items():
            entry = self._cache[key]
            change = (key, None, 0) if entry is None else (key, encode(entry), entry.exp)
            out.setdefault(partition, []).append(change)
        for partition, changes in out.items():
            self.store.apply(partition, changes)
        self._cache, self._dirty = {}, {}
        return out

    def _advance(self, partition: int, time_ms: int) -> list[OutRecord]:
        """Move ``partition``'s event-time clock; writing through, expire and flush."""
        self._clock[partition] = max(self._clock.get(partition, 0), time_ms)
        if not self._through:
            return []
        self.flush()
        out = self.expire(partition)
        self.flush()
        return out

    def expire(self, partition: int) -> list[OutRecord]:
        """Expire what ``partition``'s clock has passed: an entry with a score becomes a
        marker for one more retention period; feedback still waiting is unmatched."""
        now, out = self._clock.get(partition, 0), []
        for key, exp in self.store.due(partition, now):
            entry = self._load(partition, key)
            if entry is None or entry.exp != exp:
                continue  # written again since, with a later expiry; or already gone
            if entry.score is not None and exp + self.config.retention_ms >= now:
                self.counts.expired += 1
                marker = Entry(exp + self.config.retention_ms, partition, so=entry.so, gone=True)
                self._cache[key], self._dirty[key] = marker, partition
                continue
            if not entry.gone:
                self.counts.expired += 1
            out += [
                self._unmatched(s.record, key, "no_matching_score")
                for s in entry.seen
                if s.how == WAITING and s.record is not None
            ]
            self._delete(key, partition)
        return out

    def rebuild_index(self) -> None:
        """Rebuild the store's expiry index from its entries (after a restore), if it
        keeps one in memory."""
        rebuild = getattr(self.store, "rebuild_index", None)
        if rebuild is not None:
            rebuild()

    def __len__(self) -> int:
        """Entries stored (markers of expired scores included)."""
        return len(self.store)


def _by_label_time(seen: list[Seen]) -> list[tuple[Seen, State]]:
    """Seen feedback with their parsed records, in label-time order."""
    pairs = [(s, orjson.loads(s.record or b"{}")) for s in seen]
    return sorted(pairs, key=lambda pair: pair[1]["label_time"])
