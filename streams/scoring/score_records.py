"""The ``scores`` record, encoded with msgspec: one per scored event, built per batch.

``schemas/score.schema.json`` is the contract; whole-number features are written as
integers, missing ones as null. Building and encoding a score this way takes a third
of what dicts and orjson take (``bench/hotpath.py``).

>>> import numpy as np
>>> from streams.contract.events import row_of
>>> row = row_of({"event_id": "e1", "event_time": 1_767_225_600_000, "account_id": "a1"})
>>> X = np.zeros((1, len(FEATURE_NAMES)))
>>> [(key, value[:18]) for key, value in encode_scores([row], feature_values(X), [0.25],
...     ["review"], "v1", False, [Origin("events", 0, 7)], 0)]
[(b'e1', b'{"event_id":"e1","')]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import repeat
from typing import Any, Final

import msgspec
import numpy as np

from streams.contract.events import ROW_INDEX
from streams.contract.records import Origin
from streams.contract.wire import Row
from streams.model.features import FEATURE_NAMES, INTEGRAL_INDEX, Matrix
from streams.model.reasons import Explained, Reason

_EVENT_ID, _EVENT_TIME, _ACCOUNT_ID = (
    ROW_INDEX[n] for n in ("event_id", "event_time", "account_id")
)


class Source(msgspec.Struct):
    """Where the scored event was read (``source`` in the score record)."""

    topic: str
    partition: int
    offset: int


@functools.cache
def features_struct(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """The features object of a score: one number or null per model input, in model order
    (a struct type per feature set, made once)."""
    return msgspec.defstruct("Features", [(name, float | int | None) for name in names])


class ScoreRecord(msgspec.Struct):
    """A ``scores`` record, field for field as ``schemas/score.schema.json``."""

    event_id: str
    account_id: str
    event_time: int
    score: float
    decision: str
    model_version: str
    fallback: bool
    features: Any  # a Features struct
    event_timestamp: int | None
    scored_at: int
    source: Source
    reasons: list[Reason] | msgspec.UnsetType = msgspec.UNSET  # absent: not explained
    reasons_base: float | msgspec.UnsetType = msgspec.UNSET
    cold_start: bool | msgspec.UnsetType = msgspec.UNSET  # absent: no velocity features


def feature_values(
    X: Matrix, integral: Sequence[int] = INTEGRAL_INDEX
) -> list[tuple[float | int | None, ...]]:
    """The rows of a feature matrix as Python numbers, for a score record's ``features``.

    Whole-number columns (``integral``: the feature set's, by default the event's own
    :data:`~streams.model.features.INTEGRAL_INDEX`) become ints,
    missing ones None: msgspec writes ``826`` six times faster than ``826.0``, and both
    are the JSON number the contract asks for (``bench/hotpath.py``). Other NaNs stay
    floats and are written as null.

    >>> import numpy as np
    >>> X = np.zeros((2, len(FEATURE_NAMES)))
    >>> X[1, FEATURE_NAMES.index("txn_count_1h")] = np.nan
    >>> [row[FEATURE_NAMES.index("txn_count_1h")] for row in feature_values(X)]
    [0, None]
    """
    # whole matrices, not column by column: a few numpy calls per batch, a fixed cost
    # paid ~1,000 times a second at 5,000 events/s
    whole, other, order = _layout(tuple(integral), X.shape[1])
    columns = _int_columns(X[:, whole]) + np.ascontiguousarray(X[:, other].T).tolist()
    return list(zip(*[columns[k] for k in order], strict=True))


@functools.cache
def _layout(integral: tuple[int, ...], width: int) -> tuple[list[int], list[int], list[int]]:
    """The whole-number columns, the others, and where column j is in the first followed
    by the second."""
    other = [j for j in range(width) if j not in integral]
    return list(integral), other, [[*integral, *other].index(j) for j in range(width)]


def _int_columns(whole: Matrix) -> list[list[int | None]]:
    """The columns of a whole-number matrix as lists of ints, NaN as None."""
    missing = np.isnan(whole)
    if not missing.any():
        return whole.T.astype(np.int64, order="C").tolist()  # type: ignore[no-any-return]
    ints = np.where(missing, 0, whole).astype(np.int64).astype(object)
    ints[missing] = None
    return ints.T.tolist()  # type: ignore[no-any-return]


_ENCODER: Final = msgspec.json.Encoder()
encode = _ENCODER.encode
"""Encode a msgspec struct (or plain data) to JSON bytes; NaN floats become null."""


def encode_scores(
    rows: Sequence[Row],
    features: Sequence[Sequence[float | int | None]],
    scores: Sequence[float],
    decisions: Sequence[str],
    version: str | Sequence[str],
    fallback: bool | Sequence[bool],
    origins: Sequence[Origin],
    now_ms: int,
    explained: Sequence[Explained | None] | None = None,
    names: tuple[str, ...] = tuple(FEATURE_NAMES),
    cold: Sequence[bool] | None = None,
) -> list[tuple[bytes, bytes]]:
    """Key (the event id) and encoded ``scores`` record of each scored event, in order.

    ``version``: the deciding model's, one for the batch or one per event (a canary
    decides some); ``fallback`` likewise (cold starts the rules scored).
    ``origins``: where each event was read (its Kafka timestamp is the
    score's ``event_timestamp``). ``explained``: each score's reasons and base, or None.
    ``names``: the model's features, in order. ``cold``: for a model with velocity
    features, whether each event had no history (``cold_start``).
    One loop over plain lists for the batch: this runs once per scored event.
    """
    enc, record, feats, source = _ENCODER.encode, ScoreRecord, features_struct(names), Source
    versions = repeat(version, len(rows)) if isinstance(version, str) else version
    fallbacks = repeat(fallback, len(rows)) if isinstance(fallback, bool) else fallback
    whys = repeat(None, len(rows)) if explained is None else explained
    colds = repeat(msgspec.UNSET, len(rows)) if cold is None else cold
    out: list[tuple[bytes, bytes]] = []
    append = out.append
    for row, x, score, decision, o, ver, fell, why, is_cold in zip(
        rows, features, scores, decisions, origins, versions, fallbacks, whys, colds, strict=True
    ):
        eid = row[_EVENT_ID]
        where = source(o.topic, o.partition, o.offset)
        value = record(
            eid,
            row[_ACCOUNT_ID],
            row[_EVENT_TIME],
            score,
            decision,
            ver,
            fell,
            feats(*x),
            o.timestamp_ms,
            now_ms,
            where,
            cold_start=is_cold,
        )
        if why is not None:
            value.reasons, value.reasons_base = why
        append((eid.encode(), enc(value)))
    return out


ShadowScores = tuple[str, str, Sequence[float], Sequence[str]]
"""One version's scores of a batch: (version, role, scores, decisions), per event."""


class ShadowRecord(msgspec.Struct):
    """A ``scores.shadow`` record, field for field as ``schemas/score_shadow.schema.json``."""

    event_id: str
    account_id: str
    event_time: int
    model_version: str
    role: str
    score: float
    decision: str
    deciding_version: str
    deciding_score: float
    scored_at: int
    source: Source


def encode_shadow(
    rows: Sequence[Row],
    origins: Sequence[Origin],
    which: Sequence[int],
    score: ShadowScores,
    deciding: tuple[Sequence[str], Sequence[float]],
    now_ms: int,
) -> list[tuple[bytes, bytes]]:
    """Key and encoded ``scores.shadow`` record of the events at positions ``which``, by
    one model version (``score``: version, role, scores and decisions of every event)
    beside the deciding version and score of each event (``deciding``)."""
    version, role, scores, decisions = score
    versions, deciding_scores = deciding
    enc, record, source = _ENCODER.encode, ShadowRecord, Source
    out: list[tuple[bytes, bytes]] = []
    for i in which:
        row, o = rows[i], origins[i]
        eid = row[_EVENT_ID]
        value = record(
            eid,
            row[_ACCOUNT_ID],
            row[_EVENT_TIME],
            version,
            role,
            scores[i],
            decisions[i],
            versions[i],
            deciding_scores[i],
            now_ms,
            source(o.topic, o.partition, o.offset),
        )
        out.append((eid.encode(), enc(value)))
    return out
