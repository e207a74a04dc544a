"""The join's stored entry, one per event id, and the ``labelled`` record built from it.

An entry (JSON-serialisable, for the faust table and its changelog) holds the score
(``score``, its source offset ``so``), the current ``label``, the feedback seen
(``seen``), the entry's expiry (``exp``) and partition (``p``). Each seen feedback is
``[feedback_id, source offset, how, previous label, record]``: how it was labelled
(:data:`WAITING`, :data:`ON_ARRIVAL`, :data:`BY_SCORE`) and the label it replaced, so a
replay emits exactly the record it emitted the first time; the record is kept while
it waits for its score, and after its score labelled it (that score's replay needs it).

>>> entry = read_entry({"seen": ["old-id"]})  # an entry written before offsets were kept
>>> entry["seen"]
[['old-id', None, 'a', None, None]]
"""

from __future__ import annotations

from typing import Any

State = dict[str, Any]

SCORE_FIELDS = (
    "account_id",
    "features",
    "score",
    "decision",
    "model_version",
    "event_time",
    "scored_at",
)
SEEN_LIMIT = 16  # feedback remembered per event (duplicates, replays); waiting ones always

# a feedback's entry in ``seen``: [feedback_id, source offset, how, previous label, record]
ID, OFFSET, HOW, PREVIOUS, RECORD = range(5)
WAITING = "w"  # no score yet; the record is kept until its score comes or it expires
ON_ARRIVAL = "a"  # labelled when it arrived (a replay of it emits again)
BY_SCORE = "s"  # labelled when its score arrived (a replay of the score emits again)


def labelled_value(event_id: str, s: State, fb: State, previous: int | None) -> State:
    """The ``labelled`` record of feedback ``fb`` on score ``s`` (no wall-clock time)."""
    return {
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
        "correction": previous is not None,
        "previous_label": previous,
    }


def read_entry(stored: State | None) -> State:
    """A copy of a stored entry to update, in today's form.

    Entries written before offsets were kept hold ``seen`` as bare feedback ids and a
    ``pending`` list: read as feedback with no offset (never a replay) and waiting ones.
    """
    entry = dict(stored or {})
    seen = [
        list(s) if isinstance(s, list) else [s, None, ON_ARRIVAL, None, None]
        for s in entry.get("seen", [])
    ]
    for fb in entry.pop("pending", []):
        seen = [s for s in seen if s[ID] != fb["feedback_id"]]
        seen.append([fb["feedback_id"], None, WAITING, None, fb])
    entry["seen"] = seen
    return entry


def bounded(seen: list[list[Any]]) -> list[list[Any]]:
    """``seen`` without its oldest labelled feedback beyond ``SEEN_LIMIT`` (waiting
    feedback is kept: it is what the score will label)."""
    extra = len(seen) - SEEN_LIMIT
    if extra <= 0:
        return seen
    out, dropped = [], 0
    for s in seen:
        if dropped < extra and s[HOW] != WAITING:
            dropped += 1
            continue
        out.append(s)
    return out
