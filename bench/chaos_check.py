"""What a chaos run must show, read back from its topics: every event scored or
dead-lettered exactly once, every label joined, nothing lost.

``scores`` and ``events.dlq`` are exactly-once outputs (read_committed): a second
record for an event is a duplicate. ``labelled`` is at-least-once with byte-identical
re-emits (docs/delivery.md): a second identical record is counted as re-emitted, a
second different one as duplicated.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import orjson

from streams.config import Settings
from streams.dev.generator import Record
from streams.kafka import read_topic


@dataclass
class Outcome:
    """The counts a chaos run reports; ``lost`` and ``duplicated`` must be 0."""

    events_sent: int = 0
    valid_sent: int = 0
    scored: int = 0
    dead_lettered: int = 0
    labels_expected: int = 0
    labelled: int = 0
    scores_lost: int = 0
    scores_duplicated: int = 0
    dead_letters_lost: int = 0
    dead_letters_duplicated: int = 0
    labelled_lost: int = 0
    labelled_duplicated: int = 0
    labelled_reemitted: int = 0

    @property
    def lost(self) -> int:
        """Events or labels with no output."""
        return self.scores_lost + self.dead_letters_lost + self.labelled_lost

    @property
    def duplicated(self) -> int:
        """Second outputs of exactly-once outputs, and differing second labelled records."""
        return self.scores_duplicated + self.dead_letters_duplicated + self.labelled_duplicated

    def as_dict(self) -> dict[str, int]:
        """Every count, the totals included."""
        return {**asdict(self), "lost": self.lost, "duplicated": self.duplicated}


def expected_labels(sent: list[Record]) -> set[tuple[str, str]]:
    """(event id, feedback id) of every label sent for a valid event (each feedback id
    once: the same feedback again is ignored by the joiner)."""
    valid = {orjson.loads(r.value)["event_id"] for r in sent if r.topic == "events" and r.valid}
    out: set[tuple[str, str]] = set()
    for r in sent:
        if r.topic == "feedback":
            fb = orjson.loads(r.value)
            if fb["event_id"] in valid:
                out.add((fb["event_id"], fb["feedback_id"]))
    return out


def labelled_found(settings: Settings) -> dict[tuple[str, str], list[bytes]]:
    """The labelled records by (event id, feedback id)."""
    found: dict[tuple[str, str], list[bytes]] = {}
    for rec in read_topic(settings, settings.topic_labelled):
        value = orjson.loads(rec.value or b"{}")
        found.setdefault((value["event_id"], value["feedback_id"]), []).append(rec.value or b"")
    return found


def check(settings: Settings, sent: list[Record]) -> Outcome:
    """Read ``scores``, ``events.dlq`` and ``labelled`` and count against ``sent``."""
    events = [r for r in sent if r.topic == "events"]
    want_scores = Counter(orjson.loads(r.value)["event_id"] for r in events if r.valid)
    got_scores = Counter(
        orjson.loads(r.value or b"")["event_id"]
        for r in read_topic(settings, settings.topic_scores)
    )
    want_dead = Counter(r.value or b"" for r in events if not r.valid)  # b"" and null alike
    got_dead = Counter(r.value or b"" for r in read_topic(settings, settings.topic_dlq))
    labels = expected_labels(sent)
    found = labelled_found(settings)
    out = Outcome(
        events_sent=len(events),
        valid_sent=sum(want_scores.values()),
        scored=sum(got_scores.values()),
        dead_lettered=sum(got_dead.values()),
        labels_expected=len(labels),
        labelled=sum(len(v) for v in found.values()),
    )
    out.scores_lost = sum((want_scores - got_scores).values())
    out.scores_duplicated = sum((got_scores - want_scores).values())
    out.dead_letters_lost = sum((want_dead - got_dead).values())
    out.dead_letters_duplicated = sum((got_dead - want_dead).values())
    out.labelled_lost = len(labels - set(found))
    for values in found.values():
        out.labelled_reemitted += sum(1 for v in values[1:] if v == values[0])
        out.labelled_duplicated += sum(1 for v in values[1:] if v != values[0])
    out.labelled_duplicated += len(set(found) - labels)  # a label nobody sent
    return out
