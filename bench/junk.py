"""Hostile input at volume: a hand corpus plus seeded mutations of valid events.

:func:`hostile` gives ``(key, value, headers)`` triples as a producer sends them:
invalid UTF-8, empty and null values, null and binary keys, values at and just over
``max_payload_bytes``, nesting around ``max_depth``, ``NaN``/``Infinity`` literals,
huge numbers (``1e400``, 400-digit integers), duplicate keys, numbers as strings,
control characters and lone surrogates, truncations, and junk headers (binary,
huge, many, forged error headers). Some of it is in fact valid (an escaped NUL in a
string, a duplicated extra field, ``1.0`` for an integer): the scorer must score it.

Deterministic by seed: one ``random.Random(seed)`` drives every choice, so a failing
record is reproduced by its seed and index. Every event built here has its own
``event_id`` (``junk-<seed>-<index>``), never one of the generator's, so a test can
tell each scored record's source.

>>> a = hostile(1, 50)
>>> a == hostile(1, 50), len(a)
(True, 50)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from streams.config import Settings
from streams.contract.records import Headers
from streams.dev.generator import GeneratorConfig, generate

JunkHeaders = Headers
Hostile = tuple[bytes | None, bytes | None, JunkHeaders | None]
"""One record to produce: key, value, headers (None: absent)."""

_SENTINEL = "@@junk@@"
_BASE_EVENTS = 2_000  # valid events the mutations start from (recycled, new ids)
_NUMERIC = ("event_time", "amount", "account_age_days", "txn_count_1h", "avg_amount_30d")
_TEXT = ("event_id", "account_id", "currency", "channel", "country")
_BOOLEAN = ("card_present", "is_new_device", "is_foreign_ip")
_HUGE = (
    b"1e400",
    b"-1e400",
    b"9" * 400,
    b"-" + b"9" * 400,
    b"1" + b"0" * 40,
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e-400",
    b"1E+308",
    b"0.0000000000000000000000000001",
)
_NOT_NUMBERS = (b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"+1", b"01", b".5")
_BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80")
_ODD_STRINGS = (
    "\\u0000",
    "\\ud800",
    "\\udfff\\ud800",
    "\\u202e",
    "\\u0007\\u001b[31m",
    "\\ufeff",
    "\U0001f4a9",
    "\\\\",
    '\\"',
    "\\/",
)
_RESERVED = ("__streamscore.errors.reason", "__connect.errors.topic", "__streamscore.replayed.from")


def _dump(event: dict[str, Any], field: str | None = None, literal: bytes = b"") -> bytes:
    """``event`` as JSON; ``field`` (if given) set to ``literal``, raw bytes as written."""
    if field is None:
        return orjson.dumps(event)
    raw = orjson.dumps({**event, field: _SENTINEL})
    return raw.replace(b'"' + _SENTINEL.encode() + b'"', literal, 1)


def _string_literal(rng: random.Random, event: dict[str, Any], field: str) -> bytes:
    """A JSON string literal from ``event[field]`` with odd escapes or characters in it."""
    text = str(event.get(field, "x"))
    cut = rng.randrange(len(text) + 1)
    odd = rng.choice(_ODD_STRINGS)
    if rng.random() < 0.3:  # raw control character: not JSON
        odd = chr(rng.randrange(0, 32))
    return b'"' + (text[:cut] + odd + text[cut:]).encode("utf-8", "surrogatepass") + b'"'


Mutator = Callable[[random.Random, dict[str, Any], "_Limits"], bytes | None]


class _Limits:
    def __init__(self, max_bytes: int, max_depth: int) -> None:
        self.max_bytes, self.max_depth = max_bytes, max_depth


def _invalid_utf8(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    raw = _dump(event)
    at = rng.randrange(1, len(raw))
    return raw[:at] + rng.choice(_BAD_UTF8) + raw[at:]


def _empty(rng: random.Random, _e: dict[str, Any], _: _Limits) -> bytes | None:
    return rng.choice((None, b"", b" ", b"\n", b"\x00"))


def _truncated(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    raw = _dump(event)
    return raw[: rng.randrange(1, len(raw))]


def _flipped(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    raw = bytearray(_dump(event))
    for _i in range(rng.randint(1, 3)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


def _non_number(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    return _dump(event, rng.choice((*_NUMERIC, "extra")), rng.choice(_NOT_NUMBERS))


def _huge_number(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    return _dump(event, rng.choice((*_NUMERIC, "extra")), rng.choice(_HUGE))


def _duplicate_key(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    field = rng.choice([*list(event), "extra"])
    value = orjson.dumps(event.get(field, 1) if rng.random() < 0.5 else None)
    space = rng.choice((b"", b" ", b"\n"))
    return _dump(event)[:-1] + b',"' + field.encode() + b'"' + space + b":" + value + b"}"


def _number_as_string(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    field = rng.choice(_NUMERIC + _BOOLEAN)
    return _dump(event, field, b'"' + orjson.dumps(event.get(field, 1)) + b'"')


def _wrong_type(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    field = rng.choice(list(event))
    literal = rng.choice((b"1", b"0", b"1.0", b"1.5", b"true", b"[]", b"{}", b'"1"', b"null"))
    return _dump(event, field, literal)


def _dropped(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    field = rng.choice(list(event))
    return _dump({k: v for k, v in event.items() if k != field})


def _odd_string(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    field = rng.choice((*_TEXT, "extra"))
    return _dump(event, field, _string_literal(rng, event, field))


def _nested(rng: random.Random, event: dict[str, Any], limits: _Limits) -> bytes:
    depth = rng.choice((limits.max_depth - 1, limits.max_depth, limits.max_depth + 1, 5_000))
    opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}")))
    return _dump(event, "extra", opener * depth + b"0" + closer * depth)


def _sized(rng: random.Random, event: dict[str, Any], limits: _Limits) -> bytes:
    target = limits.max_bytes + rng.choice((-1, 0, 0, 1, 1, 1_000))
    empty = _dump({**event, "pad": ""})
    return _dump({**event, "pad": "x" * max(target - len(empty), 0)})


def _not_object(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    raw = _dump(event)
    return rng.choice((b"[" + raw + b"]", b"null", b"true", b"42", b'"' + raw[:20] + b'"', b"[]"))


def _framing(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    raw = _dump(event)
    junk = (b"\xef\xbb\xbf" + raw, raw + b"x", raw + raw, raw[:-1] + b",}", raw.replace(b'"', b"'"))
    return rng.choice((*junk, b"  " + raw + b"\n\t", raw + b"\x00", b"/*c*/" + raw))


def _many_fields(rng: random.Random, event: dict[str, Any], _: _Limits) -> bytes:
    return _dump({**event, **{f"f{i}": i for i in range(rng.choice((100, 2_000)))}})


MUTATORS: dict[str, Mutator] = {
    "invalid_utf8": _invalid_utf8,
    "empty": _empty,
    "truncated": _truncated,
    "flipped": _flipped,
    "nan_infinity": _non_number,
    "huge_number": _huge_number,
    "duplicate_key": _duplicate_key,
    "number_as_string": _number_as_string,
    "wrong_type": _wrong_type,
    "dropped_field": _dropped,
    "odd_string": _odd_string,
    "nested": _nested,
    "sized": _sized,
    "not_object": _not_object,
    "framing": _framing,
    "many_fields": _many_fields,
}
"""Each kind of mutation, by name."""
_WEIGHTS = {"sized": 0.1, "many_fields": 0.3, "nested": 0.5}  # big values: rarer (volume)


def _hand(event: dict[str, Any], limits: _Limits) -> list[bytes | None]:
    """Hand-picked payloads, one of each kind (``event``: a valid event to start from)."""
    raw, pad = _dump(event), _dump({**event, "pad": ""})
    at_limit = _dump({**event, "pad": "x" * (limits.max_bytes - len(pad))})
    deep = limits.max_depth
    return [
        None,
        b"",
        b"\x00",
        b"\xff\xfe\xfd",
        raw[:-1] + b"\xc3",
        b"{}",
        b"[]",
        b"null",
        b"{",
        raw.replace(b"{", b"{\x00", 1),
        at_limit,
        at_limit + b" ",
        _dump({**event, "pad": "x" * (limits.max_bytes + 1 - len(pad))}),
        _dump(event, "extra", b"[" * deep + b"]" * deep),
        _dump(event, "extra", b"[" * (deep + 1) + b"]" * (deep + 1)),
        _dump(event, "amount", b"NaN"),
        _dump(event, "amount", b"Infinity"),
        _dump(event, "amount", b"-Infinity"),
        _dump(event, "amount", b"1e400"),
        _dump(event, "amount", b"1" + b"0" * 400),
        _dump(event, "extra", b"9" * 400),
        _dump(event, "txn_count_1h", b"1.0"),
        _dump(event, "amount", b'"12.5"'),
        raw[:-1] + b',"amount":1}',
        raw[:-1] + b',"amount" :1}',
        raw[:-1] + b',"zz":1,"zz":2}',
        _dump(event, "account_id", b'"\\u0000"'),
        _dump(event, "account_id", b'"\\ud800"'),
        _dump(event, "account_id", b'"a\x01b"'),
        raw[:-1] + b',"\\u0061mount":999}',  # a duplicate written with an escape
        _dump(event, "extra", b'{"amount":1,"event_id":"x"}'),  # an extra object's own keys
        _dump(event, "extra", b'[{"amount":1},{"amount":2}]'),
        _dump(event, "event_id", b'"' + b"e" * 65 + b'"'),
    ]


def _keys(rng: random.Random, event: dict[str, Any]) -> bytes | None:
    own = str(event.get("account_id", "k")).encode("utf-8", "surrogatepass")
    if rng.random() < 0.02:
        return b"k" * 10_000
    return rng.choice((None, None, b"", own, own, b"\x00\xff" * 4, b"\xed\xa0\x80"))


def _headers(rng: random.Random) -> JunkHeaders | None:
    kind = rng.randrange(12)
    if kind == 0:
        return [("bin", bytes(rng.randrange(256) for _ in range(32))), ("null", None)]
    if kind == 1:
        return [("huge", b"h" * 65_536)] if rng.random() < 0.1 else [("big", b"h" * 1_024)]
    if kind == 2:
        return [(f"h{i % 7}", str(i).encode()) for i in range(500 if rng.random() < 0.1 else 50)]
    if kind == 3:  # no NUL in a name: confluent-kafka passes names to librdkafka as C strings
        return [("", b""), ("\x01\u202e\U0001f4a9", b"\xff"), ("dup", b"1"), ("dup", b"2")]
    if kind == 4:  # forged error headers: a dead letter drops them (they are replay's)
        return [(rng.choice(_RESERVED), b"forged"), ("trace-id", b"t")]
    return [] if kind == 5 else None


def hostile(
    seed: int, count: int, max_bytes: int | None = None, max_depth: int | None = None
) -> list[Hostile]:
    """``count`` hostile records, the hand corpus first; limits: the settings' by default."""
    defaults = Settings()
    limits = _Limits(max_bytes or defaults.max_payload_bytes, max_depth or defaults.max_depth)
    rng = random.Random(seed)
    config = GeneratorConfig(seed=seed, count=_BASE_EVENTS)
    bases = [orjson.loads(r.value) for r in generate(config) if r.topic == "events" and r.valid]
    names = list(MUTATORS)
    weights = [_WEIGHTS.get(name, 1.0) for name in names]
    out: list[Hostile] = []
    hand = len(_hand(bases[0], limits))
    for i in range(count):
        event = {**bases[i % len(bases)], "event_id": f"junk-{seed}-{i}"}
        if i < hand:
            value = _hand(event, limits)[i]
        else:
            value = MUTATORS[rng.choices(names, weights)[0]](rng, event, limits)
        out.append((_keys(rng, event), value, _headers(rng)))
    return out
