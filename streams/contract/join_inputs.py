"""The joiner's inputs, parsed: ``scores``, ``feedback`` and ``scores.shadow`` records,
or a Problem.

Feedback is checked against ``schemas/feedback.schema.json`` by a direct path first
(about 2 µs a record, where a JSON Schema validator takes ~50): it accepts only records
it proves valid, and anything else goes through the exact validator
(:func:`~streams.contract.validation.parse_with_schema`), which picks the reason code.
A test checks the two agree. Scores are streamscore's own output; only the fields the
join uses are checked. Of a shadow score too (decoded by msgspec, ~1 µs); one that fails
goes through the exact JSON Schema (``schemas/score_shadow.schema.json``) for its reason.

>>> parse_shadow(b'{"event_id": "e1", "event_time": 5, "model_version": "v2", "score": 0.25}')
ShadowIn(event_id='e1', event_time=5, model_version='v2', score=0.25)
>>> parse_shadow(b'{"event_id": "e1", "score": 0.25}').reason
'missing_field'

>>> parse_feedback(b'{"feedback_id": "f1", "event_id": "e1", "label": 1,'
...                b' "label_source": "chargeback", "label_time": 1767225600000}')["label"]
1
>>> parse_feedback(b'{"feedback_id": "f1", "event_id": "e1", "label": null}').reason
'missing_field'
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from streams.contract.validation import (
    DEFAULT_MAX_BYTES,
    Problem,
    load_object,
    parse_with_schema,
)

_SOURCES = frozenset({"chargeback", "manual_review", "customer_report"})
_MIN_TIME, _MAX_TIME = 946_684_800_000, 4_102_444_800_000  # the schema's label_time range

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


def parse_score(raw: bytes | None) -> dict[str, Any] | Problem:
    """Parse a ``scores`` record, checking only the fields the join uses."""
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


def parse_feedback(raw: bytes | None) -> dict[str, Any] | Problem:
    """Parse and validate a ``feedback`` record."""
    obj = load_object(raw, DEFAULT_MAX_BYTES)
    if isinstance(obj, Problem):
        return obj
    if _surely_valid(obj):
        return obj
    return parse_with_schema(raw, "feedback")


def _surely_valid(fb: dict[str, Any]) -> bool:
    """True only for a record the schema accepts (False: ask the exact validator)."""
    fid, eid, label = fb.get("feedback_id"), fb.get("event_id"), fb.get("label")
    source, when = fb.get("label_source"), fb.get("label_time")
    return (
        type(fid) is str
        and 0 < len(fid) <= 64
        and type(eid) is str
        and 0 < len(eid) <= 64
        and type(label) is int
        and label in (0, 1)
        and type(source) is str
        and source in _SOURCES
        and type(when) is int
        and _MIN_TIME <= when <= _MAX_TIME
    )


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
    obj = parse_with_schema(raw, "score_shadow")
    if isinstance(obj, Problem):
        return obj
    # JSON Schema's integer takes 1.0 too: the join computes with an int
    time_ms, score = int(obj["event_time"]), float(obj["score"])
    return ShadowIn(obj["event_id"], time_ms, obj["model_version"], score)
