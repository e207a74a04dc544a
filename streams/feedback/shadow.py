"""``scores.shadow`` in the joiner: the scores of versions that did not decide an event.

The scorer writes one ``scores.shadow`` record per event and version that scored it
without deciding (a shadow challenger; the champion where a canary decided), in the
transaction of the event's ``scores`` record. The join keeps each in the event's entry
(:class:`~streams.feedback.entries.Shadow`: score and source offset, per version) and
gives it the event's label, whichever comes first, so every version's online quality
and AUC estimate see the same labels as the deciding one. No ``labelled`` record is
made of a shadow score: ``labelled`` stays one record per event and label.

Only the fields the join uses are decoded and checked (~1 µs, msgspec); a record that
fails goes through the exact JSON Schema (``schemas/score_shadow.schema.json``) for its
reason code.

>>> parse_shadow(b'{"event_id": "e1", "event_time": 5, "model_version": "v2", "score": 0.25}')
ShadowIn(event_id='e1', event_time=5, model_version='v2', score=0.25)
>>> parse_shadow(b'{"event_id": "e1", "score": 0.25}').reason
'missing_field'
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from streams.contract.validation import DEFAULT_MAX_BYTES, Problem, parse_with_schema
from streams.feedback.entries import Entry, Shadow

SCHEMA = "score_shadow"
Added = Literal["new", "replay", "copy"]
"""What a shadow score was to its entry: new, read again at its offset, or another copy."""


class ShadowIn(msgspec.Struct):
    """The fields of a ``scores.shadow`` record the join uses, with the schema's bounds."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    event_time: int
    model_version: str
    score: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


_DECODER = msgspec.json.Decoder(ShadowIn)


def parse_shadow(raw: bytes | None) -> ShadowIn | Problem:
    """A ``scores.shadow`` record's fields, or the Problem that dead-letters it."""
    if raw is not None and len(raw) <= DEFAULT_MAX_BYTES:
        try:
            return _DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass  # the exact path names the reason
    obj = parse_with_schema(raw, SCHEMA)
    if isinstance(obj, Problem):
        return obj
    # JSON Schema's integer takes 1.0 too: the join computes with an int
    time_ms, score = int(obj["event_time"]), float(obj["score"])
    return ShadowIn(obj["event_id"], time_ms, obj["model_version"], score)


def add_shadow(entry: Entry, shadow: ShadowIn, offset: int) -> Added:
    """Keep ``shadow`` in ``entry`` unless its version's score is there already: from the
    same offset (a replay), or from another record (a copy; the first one stays)."""
    known = entry.shadow.get(shadow.model_version)
    if known is not None:
        return "replay" if known.offset == offset else "copy"
    entry.shadow[shadow.model_version] = Shadow(shadow.score, offset)
    return "new"
