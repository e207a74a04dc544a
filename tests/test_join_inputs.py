"""The joiner's fast input paths agree with the exact ones: feedback checked directly
accepts only what the JSON Schema accepts, a score decoded by msgspec is stored
exactly as the dict path stores it, and a shadow score is taken exactly when the
schema takes its fields."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contract.join_inputs import parse_feedback, parse_score, parse_shadow
from streams.contract.validation import Problem, parse_with_schema
from streams.feedback.entries import fast_score, stored_score
from streams.feedback.examples import feedback_record, score_record, shadow_record
from streams.model.features import FEATURE_NAMES

T0 = 1_767_225_600_000

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=70),
    st.just(""),
    st.just(1.0),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=2),
)


BOUNDARY = {
    "feedback_id": ["", "x", "x" * 64, "x" * 65, "é" * 64, 7],
    "event_id": ["", "e", "e" * 64, "e" * 65, None],
    "label": [0, 1, 2, -1, True, False, 1.0, "1", None],
    "label_source": ["chargeback", "manual_review", "customer_report", "Chargeback", "", 1],
    "label_time": [946_684_800_000, 946_684_799_999, 4_102_444_800_000, 4_102_444_800_001,
                   float(T0), str(T0), None],
}  # fmt: skip


@st.composite
def _feedback(draw: st.DrawFn) -> dict[str, Any]:
    """Valid feedback with up to two fields dropped or set to a boundary or odd value,
    sometimes with an extra field."""
    fb: dict[str, Any] = {**feedback_record("e1", draw(st.sampled_from([0, 1])), T0, "f1")}
    for name in draw(st.lists(st.sampled_from(sorted(fb)), max_size=2, unique=True)):
        kind = draw(st.integers(0, 2))
        if kind == 0:
            del fb[name]
        elif kind == 1:
            fb[name] = draw(st.sampled_from(BOUNDARY[name]))
        else:
            fb[name] = draw(ODD_VALUES)
    if draw(st.booleans()):
        fb["extra"] = draw(ODD_VALUES)
    return fb


@settings(max_examples=500, deadline=None)
@given(_feedback())
def test_feedback_fast_path_agrees_with_the_schema(fb: dict[str, Any]) -> None:
    raw = orjson.dumps(fb)
    assert parse_feedback(raw) == parse_with_schema(raw, "feedback")


@st.composite
def _score(draw: st.DrawFn) -> dict[str, Any]:
    """A score with the model's features (or not), some fields odd."""
    values = st.one_of(st.none(), st.integers(-5, 10**6), st.floats(allow_nan=False, width=64))
    names = list(FEATURE_NAMES) if draw(st.booleans()) else draw(st.permutations(FEATURE_NAMES))
    features = {name: draw(values) for name in names}
    if draw(st.booleans()):
        features.pop(names[0])
    score = score_record("e1", T0, draw(st.sampled_from([0.25, 0, 1, 0.999999])), features=features)
    for name in ("account_id", "event_time", "scored_at", "decision"):
        if draw(st.integers(0, 6)) == 0:
            score[name] = draw(ODD_VALUES)
    return score


@settings(max_examples=500, deadline=None)
@given(_score())
def test_a_score_decoded_fast_is_stored_as_the_exact_path_stores_it(score: dict[str, Any]) -> None:
    raw = orjson.dumps(score)
    fast, exact = fast_score(raw), parse_score(raw)
    if fast is None:
        return  # the exact path decides
    assert isinstance(exact, dict)
    a, b = fast.stored(), stored_score(exact)
    # the same values, types included; the fast path keeps them in the model's order
    assert _typed(a) == _typed(b)
    assert (a.account_id, a.score, a.decision, a.event_time, a.scored_at) == (
        b.account_id,
        b.score,
        b.decision,
        b.event_time,
        b.scored_at,
    )


def _typed(stored: Any) -> dict[str, tuple[type, Any]]:
    names = list(FEATURE_NAMES) if stored.names is None else stored.names
    return {n: (type(v), v) for n, v in zip(names, stored.values, strict=True)}


SHADOW_BOUNDARY = {
    "event_id": ["", "e", "e" * 64, "e" * 65, "é" * 64, None],
    "event_time": [0, -1, float(T0), T0 + 0.5, str(T0), True, None],
    "model_version": ["", "v2", 2, None],
    "score": [0, 1, 0.0, 1.0, -0.0, 1.000001, -1e-9, True, "0.5", None],
}


@st.composite
def _shadow(draw: st.DrawFn) -> dict[str, Any]:
    """A valid ``scores.shadow`` record with up to two of the fields the join uses
    dropped or set to a boundary or odd value."""
    record: dict[str, Any] = {**shadow_record("e1", T0, "v2", 0.25)}
    for name in draw(st.lists(st.sampled_from(sorted(SHADOW_BOUNDARY)), max_size=2, unique=True)):
        kind = draw(st.integers(0, 2))
        if kind == 0:
            del record[name]
        elif kind == 1:
            record[name] = draw(st.sampled_from(SHADOW_BOUNDARY[name]))
        else:
            record[name] = draw(ODD_VALUES)
    return record


@settings(max_examples=500, deadline=None)
@given(_shadow())
def test_a_shadow_score_is_taken_exactly_when_the_schema_takes_it(record: dict[str, Any]) -> None:
    raw = orjson.dumps(record)
    parsed, exact = parse_shadow(raw), parse_with_schema(raw, "score_shadow")
    assert isinstance(parsed, Problem) == isinstance(exact, Problem)
    if isinstance(parsed, Problem):
        return
    assert isinstance(exact, dict)
    assert (parsed.event_id, parsed.model_version) == (exact["event_id"], exact["model_version"])
    assert type(parsed.event_time) is int and parsed.event_time == exact["event_time"]
    assert type(parsed.score) is float and parsed.score == exact["score"]
