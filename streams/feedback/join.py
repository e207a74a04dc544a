"""The feedback join's pure core: scores ⋈ feedback → labelled, over a store of entries.

One entry per event id (:mod:`streams.feedback.entries`) holds what has arrived for
that event, in a :class:`~streams.feedback.store.JoinStore`: a faust table in
production (:mod:`streams.feedback.app`), a dict in tests. Either side may come first.
The scores of versions that did not decide (``scores.shadow``, :mod:`streams.feedback.shadow`)
are kept there too and get the event's first label, whichever comes first, for their
quality; they make no output record and never move the clock, so the output is the same
with them or without.

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
changelog; :mod:`streams.feedback.cache`); :meth:`Join.expire` expires what the
partition's clock has passed. Given a plain dict, every call reads and writes through.

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

from collections.abc import MutableMapping
from typing import Any

import orjson

from streams.contract.join_inputs import ShadowIn
from streams.contract.records import OutRecord
from streams.feedback.cache import EntryCache
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
    labelled_value,
    stored_score,
)
from streams.feedback.join_config import DAY_MS, FirstLabel, JoinConfig, JoinCounts, ShadowLabel
from streams.feedback.shadow import add_shadow
from streams.feedback.store import JoinStore

__all__ = ["DAY_MS", "FirstLabel", "Join", "JoinConfig", "JoinCounts", "ShadowLabel"]


class Join(EntryCache):
    """Join logic over a :class:`JoinStore` (or a dict), batch by batch."""

    def __init__(
        self,
        config: JoinConfig,
        state: JoinStore | MutableMapping[Any, Any],
        on_first_label: FirstLabel | None = None,
        on_shadow_label: ShadowLabel | None = None,
    ) -> None:
        super().__init__(state, config.retention_ms)
        self.config = config
        self.counts = JoinCounts()
        self.on_first_label = on_first_label
        self.on_shadow_label = on_shadow_label
        self._clock: dict[int, int] = {}

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

    def on_shadow(self, shadow: ShadowIn, partition: int, offset: int) -> bool:
        """A score of a version that did not decide, from ``partition`` of ``scores.shadow``
        at ``offset``: kept for the event's label (given at once if it is there). True when
        it is new: not read again, not another copy, not for an expired score."""
        entry = self._load(partition, shadow.event_id) or Entry(0, partition)
        if entry.gone:
            self.counts.shadow_late += 1
            return False
        added = add_shadow(entry, shadow, offset)
        if added != "new":
            self.counts.replayed += added == "replay"
            self.counts.shadow_copies += added == "copy"
            return False
        self.counts.shadow_scores += 1
        if entry.label is not None and entry.score is not None:
            when = max(self._clock.get(partition, 0), shadow.event_time)
            self._label_shadows(entry, [(shadow.model_version, shadow.score)], entry.label, when)
        # not the clock: what the join outputs is the same with or without shadow scores
        self._put(shadow.event_id, entry, shadow.event_time)
        if self._through:
            self.flush()
        return True

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
        if previous is None and entry.shadow:
            shadows = [(v, s.score) for v, s in entry.shadow.items()]
            self._label_shadows(entry, shadows, fb["label"], fb["label_time"])
        return self._record(event_id, value)

    def _label_shadows(
        self, entry: Entry, scores: list[tuple[str, float]], label: int, time_ms: int
    ) -> None:
        """The first label of ``entry``'s event, given to its shadow ``scores``."""
        deciding = entry.score.model_version if entry.score is not None else None
        for version, score in scores:
            if version == deciding:
                continue  # the deciding version is labelled through its own record
            self.counts.shadow_labelled += 1
            if self.on_shadow_label is not None:
                self.on_shadow_label(version, label, score, time_ms)

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
                self._set(key, marker, partition)
                continue
            if not entry.gone:
                self.counts.expired += 1
            out += [
                self._unmatched(s.record, key, "no_matching_score")
                for s in entry.seen
                if s.how == WAITING and s.record is not None
            ]
            self._set(key, None, partition)
        return out


def _by_label_time(seen: list[Seen]) -> list[tuple[Seen, State]]:
    """Seen feedback with their parsed records, in label-time order."""
    pairs = [(s, orjson.loads(s.record or b"{}")) for s in seen]
    return sorted(pairs, key=lambda pair: pair[1]["label_time"])
