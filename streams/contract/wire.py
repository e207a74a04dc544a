"""The events hot path, compiled with msgspec: a batch of payloads decoded and checked.

Decoding: the event contract (:data:`streams.contract.events.FIELDS`) as a msgspec ``Struct``
decodes *and* type/range-checks a payload in one C call. That is only a fast path:
anything it does not accept outright, and anything it cannot prove free of duplicate
keys, goes to :func:`exact_row`: the checks of
:func:`streams.contract.validation.parse_event`, the exact reference (it picks the
reason code, and normalises ``1.0`` to ``1``). Either way an event becomes a
:data:`Row`: its field values as a tuple in :data:`~streams.contract.events.ROW_FIELDS`
order. ``tests/test_wire.py`` checks that both accept nothing ``parse_event`` rejects
and give the same row.

The ``scores`` record is encoded the same way, by :mod:`streams.scoring.score_records`.

Measured by ``bench/hotpath.py`` (figures in ``BENCHMARKS.md``), per event, in one
process: decoding and validating here takes about a third of the exact path's time
(invalid events included).

>>> rows = decode_events([b'{"event_id": "e1"}'])
>>> rows[0].reason, rows[0].field
('missing_field', 'event_time')
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Annotated, Any, Final

import msgspec

from streams.contract.events import FIELDS, ROW_FIELDS, ROW_INDEX, Field, row_of
from streams.contract.validation import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    Problem,
    check_event,
    screen_event,
)

Row = tuple[Any, ...]
"""An accepted event: its field values in ``ROW_FIELDS`` order (None when missing)."""

_EVENT_ID, _EVENT_TIME, _ACCOUNT_ID = (
    ROW_INDEX[n] for n in ("event_id", "event_time", "account_id")
)


def _annotated(spec: Field) -> Any:
    """The msgspec type of one contract field: the same bounds as validation's checks."""
    if spec.kind in ("string", "category"):
        return Annotated[str, msgspec.Meta(min_length=1, max_length=spec.max_length or 64)]
    if spec.kind == "boolean":
        return bool
    # int fields reject bools and 1.5 (and 1.0: the exact path accepts that one)
    base = int if spec.kind == "integer" else float
    return Annotated[base, msgspec.Meta(ge=spec.minimum, le=spec.maximum)]


def _contract_struct(name: str, absent: Any, extra_fields: bool) -> type[msgspec.Struct]:
    """The contract as a Struct: an optional field absent is ``absent``, null is None;
    ``extra_fields``: whether keys the contract does not name are ignored (else refused)."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (spec.name, _annotated(spec))
        if spec.required
        else (spec.name, _annotated(spec) | None | type(absent), absent)
        for spec in FIELDS.values()
    ]
    return msgspec.defstruct(name, fields, forbid_unknown_fields=not extra_fields)


# Decoding a payload: absent stays UNSET, so the duplicate-key proof can count present
# keys; extra fields take the exact path (they may nest, and they count for duplicates).
_DECODER: Final = msgspec.json.Decoder(_contract_struct("Event", msgspec.UNSET, False))
# Converting an object the exact path parsed: absent is None, as in its rows.
_CHECKED: Final = _contract_struct("CheckedEvent", None, True)
_ALL_KEYS: Final = len(ROW_FIELDS)
_CONVERT_MAX_KEYS: Final = 128
_TEXT = [ROW_INDEX[n] for n, spec in FIELDS.items() if spec.kind in ("string", "category")]
_NULLABLE_TEXT: Final = [i for i in _TEXT if not FIELDS[ROW_FIELDS[i]].required]
# A row's optional strings as one tuple: an itemgetter, measured faster than a loop. It
# gives a tuple for two indices or more, so event_id (required, never None) pads it.
_nullable_text: Final = itemgetter(*_NULLABLE_TEXT, _EVENT_ID, _EVENT_ID)
_QUOTES_ALL: Final = 2 * (_ALL_KEYS + len(_TEXT))


def fast_rows(raws: Sequence[bytes | None], max_bytes: int = DEFAULT_MAX_BYTES) -> list[Row | None]:
    """Each payload's row if it is a plain, valid event with every contract key once; else
    None (not proven: the exact path decides).

    One loop for the batch, no call per payload but msgspec's: this runs per event.

    >>> fast_rows([b'{"event_id": "e1"}'])
    [None]
    """
    decode, astuple, unset = _DECODER.decode, msgspec.structs.astuple, msgspec.UNSET
    out: list[Row | None] = []
    append = out.append
    for raw in raws:
        row: Row | None = None
        if raw and len(raw) <= max_bytes:
            try:
                row = astuple(decode(raw))
            except (msgspec.MsgspecError, ValueError):  # ValueError: invalid UTF-8
                pass
            else:
                # The duplicate-key proof. An absent optional key (UNSET) leaves the
                # key count unknown: not proven. Otherwise each key written is two
                # quotes, each string value two more, an escaped quote one; so quotes
                # exactly as many as the row's keys and strings need prove that no key
                # came twice. (count, not `in`: measured faster on a row of ~20 values)
                null_strings = _nullable_text(row).count(None)
                if row.count(unset) or raw.count(b'"') != _QUOTES_ALL - 2 * null_strings:
                    row = None
        append(row)
    return out


def decode_events(
    raws: Sequence[bytes | None],
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[Row | Problem]:
    """Decode and validate a batch of payloads: a :data:`Row` or a :class:`Problem` each."""
    out: list[Row | Problem | None] = fast_rows(raws, max_bytes)  # type: ignore[assignment]
    for i in [i for i, row in enumerate(out) if row is None]:
        out[i] = exact_row(raws[i], max_bytes, max_depth)
    return out  # type: ignore[return-value]  # every None was replaced


def exact_row(
    raw: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Row | Problem:
    """What :func:`~streams.contract.validation.parse_event` says, as a row: the exact
    path, for what :func:`fast_rows` could not prove (an event with extra fields, say).

    For an event with extra fields (up to ``_CONVERT_MAX_KEYS`` keys) its field checks
    are one C call, a msgspec conversion: ~0.5 µs where ``check_event`` and ``row_of``
    take ~3 (``bench/hotpath.py``, *extra fields*). What that does not accept, and
    every other event, goes to ``check_event``, which picks the reason code.

    >>> problem = exact_row(b'{"event_id": "e1", "event_time": 1, "source": "web"}')
    >>> problem.reason, problem.field
    ('out_of_range', 'event_time')
    """
    event = screen_event(raw, max_bytes, max_depth)
    if isinstance(event, Problem):
        return event
    # Converting is tried only with extra fields: a failed conversion costs ~0.8 µs, and
    # an event without extras is here for a problem, likely; it costs ~17 ns per key, so
    # past _CONVERT_MAX_KEYS, check_event's lookups of the contract's fields are cheaper.
    if _ALL_KEYS < len(event) <= _CONVERT_MAX_KEYS:
        try:
            return msgspec.structs.astuple(msgspec.convert(event, _CHECKED))
        except msgspec.ValidationError:
            pass
    problem = check_event(event)  # also normalises 1.0 to 1 in an integer field
    return row_of(event) if problem is None else problem


def event_times(rows: Sequence[Row]) -> list[int]:
    """The event time of each row (one C-level pass: per batch, not per event)."""
    return list(map(_event_time_of, rows))


_event_time_of: Final = itemgetter(_EVENT_TIME)
