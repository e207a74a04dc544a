"""Validation: every reason code on purpose-built input, the messy-data policy, and
property tests that arbitrary bytes and arbitrary JSON never raise."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.contract.schemas import validator
from streams.contract.validation import REASONS, Problem, parse_event, parse_with_schema
from streams.feedback.examples import feedback_record

GOOD: dict[str, Any] = {
    "event_id": "ev-1",
    "event_time": 1_767_225_600_000,
    "account_id": "acct-1",
    "amount": 12.5,
    "currency": "EUR",
    "channel": "pos",
    "merchant_category": "grocery",
    "card_present": True,
    "account_age_days": 400,
}


def _with(**changes: Any) -> bytes:
    event = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in event.items() if v is not ...})


def test_good_event_parses() -> None:
    assert parse_event(_with()) == GOOD


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b"", "empty_payload", None),
        (None, "empty_payload", None),  # a tombstone (NULL value)
        (b"{" + b" " * 70_000 + b"}", "too_large", None),
        (b'{"event_id": "\xff"}', "not_utf8", None),
        (b'{"event_id": "e1",', "malformed_json", None),
        (_with()[:-1] + b',"x":NaN}', "malformed_json", None),
        (_with()[:-1] + b',"x":1e999}', "malformed_json", None),
        (b"[1, 2]", "not_object", None),
        (b'"just a string"', "not_object", None),
        (_with()[:-1] + b',"x":' + b"[" * 40 + b"]" * 40 + b"}", "too_deep", None),
        (b"[" * 2000 + b"]" * 2000, "too_deep", None),
        (_with()[:-1] + b',"amount":99}', "duplicate_key", "amount"),
        (_with(amount=...), "missing_field", "amount"),
        (_with(currency=None), "missing_field", "currency"),
        (_with(amount="12.50"), "wrong_type", "amount"),
        (_with(amount=True), "wrong_type", "amount"),
        (_with(event_time=1.7e12 + 0.5), "wrong_type", "event_time"),
        (_with(card_present="yes"), "wrong_type", "card_present"),
        (_with(card_present=1), "wrong_type", "card_present"),
        (_with(channel=7), "wrong_type", "channel"),
        (_with(amount=-1), "out_of_range", "amount"),
        (_with()[:-1] + b',"amount":123456789012345678901234567890}', "duplicate_key", "amount"),
        (
            _with(amount=...)[:-1] + b',"amount":123456789012345678901234567890}',
            "out_of_range",
            "amount",
        ),
        (_with(account_age_days=-3), "out_of_range", "account_age_days"),
        (_with(event_id="x" * 65), "out_of_range", "event_id"),
        (_with(event_id=""), "out_of_range", "event_id"),
    ],
)
def test_reason_codes(raw: bytes | None, reason: str, field: str | None) -> None:
    result = parse_event(raw)
    assert isinstance(result, Problem), result
    assert (result.reason, result.field) == (reason, field)
    assert result.reason in REASONS


@pytest.mark.parametrize(
    "raw",
    [
        _with(merchant_category=...),  # optional absent -> missing value
        _with(merchant_category=None),  # optional null -> missing value
        _with(currency="XBT", country="ZZ"),  # unseen category -> scored as unseen
        _with(extra_field={"nested": [1, 2, {"ok": True}]}),  # unknown extras allowed
        _with(amount=0, account_age_days=0),  # boundaries are inside
    ],
)
def test_messy_but_usable_is_accepted(raw: bytes) -> None:
    result = parse_event(raw)
    assert not isinstance(result, Problem), result
    assert validator("event").is_valid(result)


def _feedback(**changes: Any) -> bytes:
    record = {**feedback_record("e1", 1, 1_767_225_600_000), **changes}
    return orjson.dumps({k: v for k, v in record.items() if v is not ...})


@pytest.mark.parametrize(
    ("raw", "reason", "field", "message"),
    [
        (_feedback(label=None), "missing_field", "label", "required field is null"),
        (_feedback(label=...), "missing_field", "label", "required field is absent"),
        (_feedback(label="1"), "wrong_type", "label", None),
        (_feedback(label=3), "out_of_range", "label", None),
        (None, "empty_payload", None, "payload is empty"),  # a tombstone
    ],
)
def test_feedback_follows_the_events_rules(
    raw: bytes | None, reason: str, field: str | None, message: str | None
) -> None:
    problem = parse_with_schema(raw, "feedback")
    assert isinstance(problem, Problem)
    assert (problem.reason, problem.field) == (reason, field)
    assert message is None or problem.message == message


def test_a_null_required_field_is_one_problem_for_events_and_feedback() -> None:
    event, feedback = (
        parse_event(_with(amount=None)),
        parse_with_schema(_feedback(label=None), "feedback"),
    )
    assert isinstance(event, Problem) and isinstance(feedback, Problem)
    assert (
        (event.reason, event.message)
        == (feedback.reason, feedback.message)
        == ("missing_field", "required field is null")
    )
    assert parse_with_schema(_feedback(), "feedback") == orjson.loads(_feedback())


def test_integral_float_is_an_integer_as_in_json_schema() -> None:
    result = parse_event(_with(event_time=1_767_225_600_000.0, account_age_days=3.0))
    assert isinstance(result, dict)
    assert result["event_time"] == 1_767_225_600_000 and type(result["event_time"]) is int
    assert type(result["account_age_days"]) is int


def test_duplicate_unknown_field_is_not_ambiguous_for_us() -> None:
    # only contract fields matter for scoring; a repeated extra field is left to the parser
    assert not isinstance(parse_event(_with()[:-1] + b',"x":1,"x":2}'), Problem)


def test_a_field_name_as_a_value_is_not_a_duplicate() -> None:
    assert not isinstance(parse_event(_with(merchant_category="amount")), Problem)


json_values = st.recursive(  # orjson writes 64-bit integers only
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = parse_event(raw)
    assert isinstance(result, dict | Problem)
    if isinstance(result, Problem):
        assert result.reason in REASONS


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    result = parse_event(orjson.dumps(value))
    assert isinstance(result, dict | Problem)
    if isinstance(result, dict):  # accepted means valid under the published contract
        assert validator("event").is_valid(result)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*sorted(GOOD), "amount", "x"]), json_values, max_size=9))
def test_contract_shaped_objects_agree_with_the_json_schema(event: dict[str, Any]) -> None:
    result = parse_event(orjson.dumps({**GOOD, **event}))
    assert isinstance(result, dict) == validator("event").is_valid({**GOOD, **event})
