"""Parsing and validating event payloads: bad input is a value, never an exception.

:func:`parse_event` returns either the event dict or a :class:`Problem` carrying a
stable reason code, the field path and a message. It never raises for any input
bytes (property-tested in ``tests/test_validation.py``).

Policy for messy data (docs/bad-input.md has the same table):

- absent or null *optional* field → missing value (NaN for the model), accepted;
- category level not in the contract → accepted, scored as unseen;
- unknown extra fields → accepted and ignored (but they count for size and depth);
- *required* field absent or null → ``missing_field`` (feedback too: one rule for
  every input); wrong JSON type →
  ``wrong_type`` (no coercion: ``"12.5"`` is not a number, ``1`` is not a boolean,
  ``1.5`` is not an integer; ``1.0`` is, as in JSON Schema, and is normalised to 1);
  outside the contract's range or length → ``out_of_range``;
- ``NaN``/``Infinity`` literals and numbers that overflow a double are not JSON →
  ``malformed_json``; integers beyond 64 bits parse as doubles and then fail range
  or type checks;
- a contract field given twice (``{"amount": 1, "amount": 2}``) → ``duplicate_key``:
  parsers disagree on which one wins, so the event is ambiguous;
- payload over ``max_bytes`` → ``too_large`` (checked before parsing); nesting
  deeper than ``max_depth`` → ``too_deep``; empty payload, or none at all (a
  tombstone, a NULL value) → ``empty_payload``;
  invalid UTF-8 → ``not_utf8``; a JSON value that is not an object → ``not_object``.

>>> parse_event(b'{"event_id": "e1"}')
Problem(reason='missing_field', field='event_time', message='required field is absent')
>>> parse_event(b'')
Problem(reason='empty_payload', field=None, message='payload is empty')
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from streams.config import default
from streams.contract.events import FIELDS, Field

REASONS: Final = (
    "empty_payload",
    "too_large",
    "not_utf8",
    "malformed_json",
    "too_deep",
    "not_object",
    "duplicate_key",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "key_mismatch",
)
"""Every reason code validation can give; stable, part of the DLQ contract."""

DEFAULT_MAX_BYTES: Final[int] = default("max_payload_bytes")
DEFAULT_MAX_DEPTH: Final[int] = default("max_depth")

# a quote then whitespace: where a key may be spaced from its colon (`"k"  :`)
_QUOTE_SPACE = re.compile(rb'"[ \t\n\r]')
_CONTRACT_KEY = re.compile(rb'"(' + b"|".join(re.escape(n.encode()) for n in FIELDS) + rb')"\s*:')


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a payload was rejected: a stable ``reason`` code, the ``field`` path, a message."""

    reason: str
    field: str | None
    message: str


def _decode_problem(raw: bytes, exc: orjson.JSONDecodeError) -> Problem:
    text = str(exc)
    if "depth limit" in text:
        return Problem("too_deep", None, "nesting exceeds the parser's depth limit")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return Problem("not_utf8", None, f"invalid UTF-8 at byte {uexc.start}")
    return Problem("malformed_json", None, text[:200])


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True if ``value`` nests containers deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return False


def _check_field(spec: Field, value: Any) -> Problem | None:
    kind = spec.kind
    if kind in ("string", "category"):
        if not isinstance(value, str):
            return Problem(
                "wrong_type", spec.name, f"expected a string, got {type(value).__name__}"
            )
        limit = spec.max_length or 64
        if not 0 < len(value) <= limit:
            return Problem("out_of_range", spec.name, f"length must be 1..{limit}")
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            return Problem(
                "wrong_type", spec.name, f"expected a boolean, got {type(value).__name__}"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Problem("wrong_type", spec.name, f"expected a {kind}, got {type(value).__name__}")
    if kind == "integer" and not isinstance(value, int) and not value.is_integer():
        return Problem("wrong_type", spec.name, "expected an integer, got a fractional number")
    if not math.isfinite(value):
        return Problem("out_of_range", spec.name, "not a finite number")
    if (spec.minimum is not None and value < spec.minimum) or (
        spec.maximum is not None and value > spec.maximum
    ):
        return Problem("out_of_range", spec.name, f"outside [{spec.minimum}, {spec.maximum}]")
    return None


def _fast_rule(spec: Field) -> tuple[str, bool, tuple[type, ...], float, float]:
    """(name, required, exact types, low, high) for the common case: right type, in range."""
    if spec.kind in ("string", "category"):
        return spec.name, spec.required, (str,), 1, spec.max_length or 64  # on len()
    types = {"boolean": (bool,), "integer": (int,), "number": (int, float)}[spec.kind]
    low = -math.inf if spec.minimum is None else spec.minimum
    high = math.inf if spec.maximum is None else spec.maximum
    return spec.name, spec.required, types, low, high


_FAST = [(_fast_rule(spec), spec) for spec in FIELDS.values()]


def check_event(event: dict[str, Any]) -> Problem | None:
    """Check a parsed object against the event contract; None when valid."""
    for (name, required, types, low, high), spec in _FAST:
        value = event.get(name)
        if value is None:
            if required:
                what = "is null" if name in event else "is absent"
                return Problem("missing_field", name, f"required field {what}")
            continue
        kind = type(value)  # exact: bool is not an int here
        if kind in types:
            measure = len(value) if kind is str else value
            if kind is bool or low <= measure <= high:  # NaN and inf fail, and go slow
                continue
        problem = _check_field(spec, value)  # precise reason, and normalises 1.0 -> 1
        if problem is not None:
            return problem
        if spec.kind == "integer" and isinstance(value, float):
            event[spec.name] = int(value)  # 1.0 is an integer in JSON (Schema): normalise
    return None


def keys_written_once(raw: bytes, keys: int) -> bool:
    """True if ``raw``, a flat object with ``keys`` distinct keys, provably wrote none twice.

    Every written key is a `"` then `:`; with no quote followed by whitespace (so no
    space before any colon), count('":') >= keys written >= ``keys``, so equality
    means each key was written once. False means "not proven", not "duplicated".
    """
    return raw.count(b'":') == keys and not _QUOTE_SPACE.search(raw)


def _duplicate_contract_key(raw: bytes, keys: int, nested: bool) -> str | None:
    if keys_written_once(raw, keys):
        return None  # the cheap proof; otherwise look by name
    seen: set[bytes] = set()
    for name in _CONTRACT_KEY.findall(raw):
        if name in seen:  # nested: the name may be an extra field's own key, not a duplicate
            return _top_level_duplicate(raw, name.decode()) if nested else name.decode()
        seen.add(name)
    # a key written with escapes ("\u0061mount") is "amount" too, and the regex misses it
    return _top_level_duplicate(raw, None) if b"\\u" in raw else None


def _top_level_duplicate(raw: bytes, cautious: str | None) -> str | None:
    """The first contract field the top-level object writes twice, keys decoded (``raw``:
    valid JSON, nested no deeper than the limit); a nested object's keys are its own.
    ``cautious``: the answer should the stdlib parser fail where orjson did not."""
    objects: list[list[tuple[str, Any]]] = []
    try:  # the stdlib parser sees every key written; the top-level object comes last
        json.loads(raw, object_pairs_hook=objects.append)
    except (ValueError, RecursionError):
        return cautious
    seen: set[str] = set()
    for name, _ in objects[-1]:
        if name in FIELDS and name in seen:
            return name
        seen.add(name)
    return None


def load_object(raw: bytes | None, max_bytes: int) -> dict[str, Any] | Problem:
    """The first checks of any payload: present, not too large, JSON, an object."""
    if not raw:
        return Problem("empty_payload", None, "payload is empty")
    if len(raw) > max_bytes:
        return Problem("too_large", None, f"{len(raw)} bytes > limit {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _decode_problem(raw, exc)
    if not isinstance(obj, dict):
        return Problem("not_object", None, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_event(
    raw: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any] | Problem:
    """Parse and validate one payload; return the event dict or a :class:`Problem`."""
    obj = screen_event(raw, max_bytes, max_depth)
    if isinstance(obj, Problem):
        return obj
    problem = check_event(obj)
    return obj if problem is None else problem


def screen_event(
    raw: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any] | Problem:
    """:func:`parse_event` up to its field checks: the payload as an object that is not
    too large, too deep or ambiguous (a contract field twice), or the :class:`Problem`.

    >>> screen_event(b'{"amount": "12"}')
    {'amount': '12'}
    """
    obj = load_object(raw, max_bytes)
    if isinstance(obj, Problem):
        return obj
    assert raw is not None  # load_object rejected empty payloads
    # contract fields are scalars: only extra fields can nest; bytes tell cheaply if any can
    nested = (b"[" in raw or raw.count(b"{") > 1) and any(
        isinstance(v, dict | list) for v in obj.values()
    )
    if nested and _depth_exceeds(obj, max_depth):
        return Problem("too_deep", None, f"nesting deeper than {max_depth}")
    duplicate = _duplicate_contract_key(raw, -1 if nested else len(obj), nested)
    if duplicate is not None:
        return Problem("duplicate_key", duplicate, "field appears more than once")
    return obj


_SCHEMA_REASON = {
    "required": "missing_field",
    "type": "wrong_type",
    "enum": "out_of_range",
    "const": "out_of_range",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
    "minLength": "out_of_range",
    "maxLength": "out_of_range",
    "pattern": "out_of_range",
}


def parse_with_schema(
    raw: bytes | None, schema_name: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any] | Problem:
    """Parse a payload and check it against ``schemas/<schema_name>.schema.json``.

    For the lower-volume topics (feedback, scores read by the joiner); the events hot
    path uses :func:`parse_event`. Reason codes are the same, and so is the rule for a
    required field: absent or null is ``missing_field`` (JSON Schema alone would call
    a null ``wrong_type``).

    >>> parse_with_schema(b'{"feedback_id": "f", "event_id": "e", "label": null}', "feedback")
    Problem(reason='missing_field', field='label', message='required field is null')
    """
    from streams.contract.schemas import schema, validator  # compiled once, cached

    obj = load_object(raw, max_bytes)
    if isinstance(obj, Problem):
        return obj
    for name in schema(schema_name).get("required", ()):
        if obj.get(name) is None:
            what = "is null" if name in obj else "is absent"
            return Problem("missing_field", name, f"required field {what}")
    error = next(iter(validator(schema_name).iter_errors(obj)), None)
    if error is None:
        return obj
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [f for f in error.validator_value if f not in error.instance]
        path = ".".join(filter(None, [path, missing[0] if missing else ""]))
    reason = _SCHEMA_REASON.get(str(error.validator), "wrong_type")
    return Problem(reason, path or None, error.message[:200])
