"""The compiled fast path (streams.contract.wire) agrees with the exact validator everywhere.

The fast path may only ever be a shortcut: for every payload, :func:`decode_events`
must give exactly what :func:`parse_event` gives (the same row, or the same problem).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from helpers import FULL_EVENT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.contract import wire
from streams.contract.events import FIELDS, ROW_FIELDS, row_of
from streams.contract.validation import Problem, parse_event
from streams.contract.wire import decode_events, event_times, fast_rows

FULL = FULL_EVENT


def exact(raw: bytes | None) -> tuple[Any, ...] | Problem:
    """What the reference path says, in the fast path's shape."""
    event = parse_event(raw)
    return event if isinstance(event, Problem) else row_of(event)


def test_contract_keys_are_all_in_the_full_event() -> None:
    assert list(FULL) == list(FIELDS) == list(ROW_FIELDS)


def test_a_clean_full_event_takes_the_fast_path() -> None:
    raw = orjson.dumps(FULL)
    assert fast_rows([raw]) == [tuple(FULL.values())]
    assert decode_events([raw]) == [exact(raw)]


def _full(**changes: Any) -> bytes:
    return orjson.dumps({**FULL, **changes})


def test_null_optional_strings_take_the_fast_path_too() -> None:
    # each null string is two quotes fewer than the full event: the key count still holds
    for changes in ({"country": None}, {"country": None, "merchant_category": None}):
        raw = _full(**changes)
        assert fast_rows([raw]) == [tuple({**FULL, **changes}.values())]
        assert fast_rows([raw[:-1] + b',"amount":99}']) == [None]  # a duplicate: not proven


def test_event_times_are_the_rows_event_times_in_order() -> None:
    times = [1_700_000_000_002, 1_700_000_000_009, 1_700_000_000_001]
    rows = decode_events([_full(event_time=t) for t in times])
    assert event_times(rows) == times  # type: ignore[arg-type]


EDGE_CASES = [
    _full(account_age_days=400.0),  # an integral float is an integer: exact path normalises
    _full()[:-1] + b',"amount":99}',  # duplicate key
    _full().replace(b'"amount":', b'"amount"  :', 1)[:-1] + b',"amount":99}',  # spaced dup
    _full().replace(b'"amount"', b'"\\u0061mount"', 1),  # escaped key: same name
    _full().replace(b'"amount":12.5', b'"amount":12.5,"amount":12.5', 1),
    _full(event_id='e"1'),  # an escaped quote: one more quote than the proof allows
    _full(country="DE")[:-1] + b',"country":null}',  # a string, then null, for one key
    _full(channel="é" * 64),  # 64 characters, 128 bytes: in range
    _full(channel="é" * 65),
    _full(event_id="X").replace(b'"X"', b'"\\ud800"'),  # a lone surrogate escape
    _full().replace(b"12.5", b"1e400"),
    _full().replace(b"400", b"99999999999999999999999"),
    _full(amount=12),  # an int where a number is wanted
    _full(card_present=None),  # null optional
    orjson.dumps({k: v for k, v in FULL.items() if k != "country"}),  # absent optional
    _full(x={"nested": [1, 2]}),  # extra field
    _full(source="web", v=2),  # extra fields, every contract field plain: converted
    _full(source="web", account_age_days=400.0),  # converted? no: 1.0 is normalised
    _full(source="web", amount=12),  # an int for a number, with an extra field
    _full(source="web", amount=True),
    _full(source="web", channel="é" * 65),
    _full(source="web", card_present=None, country=None),
    _full(source="web", event_time=0).replace(b'"event_time":0', b'"event_time":%d' % 2**70),
    _full(source="web", event_time=float(1_767_225_600_000)),
    orjson.dumps({"source": "web", **{k: v for k, v in FULL.items() if k != "amount"}}),
    _full(amount=True),
    _full(event_time=1.5),
    _full(currency=""),
    json.dumps(FULL).encode(),  # Python's spacing: `"k": v, "k2": ...`
    json.dumps(FULL, indent=2).encode(),
    b"",
    b"\xff\xfe",
    b"[]",
    b"null",
]


@pytest.mark.parametrize("raw", EDGE_CASES)
def test_fast_path_agrees_with_the_exact_path(raw: bytes) -> None:
    assert decode_events([raw]) == [exact(raw)]


def test_a_duplicate_spaced_from_its_colon_is_caught_by_the_exact_path() -> None:
    raw = _full().replace(b'"amount":', b'"amount"  :', 1)[:-1] + b',"amount":99}'
    problem = parse_event(raw)
    assert isinstance(problem, Problem) and problem.reason == "duplicate_key"


def test_oversized_payloads_never_reach_the_decoder() -> None:
    raw = _full(x="y" * 100)
    assert decode_events([raw], max_bytes=100) == [parse_event(raw, max_bytes=100)]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=70),
    st.sampled_from(["EUR", "pos", "DE", "grocery", "ev-1", 0, 1, 1.0, 400.0, 1_767_225_600_000]),
)


@st.composite
def near_contract(draw: st.DrawFn) -> bytes:
    """Mostly valid full events with some fields replaced, dropped, repeated or spaced."""
    event = dict(FULL)
    for name in draw(st.lists(st.sampled_from(list(FULL)), max_size=4)):
        event[name] = draw(scalars)
    for name in draw(st.lists(st.sampled_from(list(FULL)), max_size=2)):
        event.pop(name, None)
    for name in draw(st.lists(st.sampled_from(["source", "trace", "v", "É"]), max_size=3)):
        event[name] = draw(scalars)  # extra fields: the exact path's conversion
    raw = json.dumps(event, separators=(",", ":") if draw(st.booleans()) else None).encode()
    if draw(st.booleans()) and len(raw) > 2:
        name = draw(st.sampled_from(list(FULL)))
        raw = raw[:-1] + b', "' + name.encode() + b'": ' + json.dumps(draw(scalars)).encode() + b"}"
    return raw


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(near_contract())
def test_fast_path_agrees_on_near_contract_events(raw: bytes) -> None:
    assert decode_events([raw]) == [exact(raw)]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fast_path_agrees_on_arbitrary_bytes(raw: bytes) -> None:
    assert decode_events([raw]) == [exact(raw)]


def test_an_event_with_extra_fields_is_checked_by_conversion(monkeypatch: Any) -> None:
    def python_checks(event: dict[str, Any]) -> Problem:
        raise AssertionError("the Python checks ran")

    monkeypatch.setattr(wire, "check_event", python_checks)
    raw = _full(source="web", trace_id="t-1", schema_version=2)
    assert fast_rows([raw]) == [None]  # extra fields: not proven
    assert wire.exact_row(raw) == tuple(FULL.values())
    # past the key limit, and for a problem, the Python checks decide
    crowded = _full(**{f"x{i}": i for i in range(wire._CONVERT_MAX_KEYS)})
    with pytest.raises(AssertionError, match="Python checks"):
        wire.exact_row(crowded)
    with pytest.raises(AssertionError, match="Python checks"):
        wire.exact_row(_full(source="web", amount="12"))


def test_an_event_past_the_conversion_limit_gets_the_same_row() -> None:
    crowded = _full(**{f"x{i}": i for i in range(wire._CONVERT_MAX_KEYS)})
    assert decode_events([crowded]) == [exact(crowded)] == [tuple(FULL.values())]
