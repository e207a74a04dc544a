"""``labelled`` records → the latest label per event, as a time-ordered training matrix.

Pure: records in, rows and counts out, no Kafka. A record's features are exactly the
vector the scoring model saw (categorical features as the integer codes of its
levels), so training on them has no training/serving skew. An event labelled twice
keeps its later record (a later offset in its partition; same key → same partition):
corrections win. Bad records are counted by reason and skipped.

>>> from streams.contract.records import InRecord, Origin
>>> rows, counts = latest_by_event([InRecord(Origin("labelled", 0, 5), b"e1", b"{")])
>>> rows, counts.skipped
({}, {'malformed_json': 1})
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from streams.contract.records import InRecord
from streams.contract.schemas import validator
from streams.model.features import CATEGORICAL_INDEX, EVENT_SET, FeatureSet, Matrix, feature_set


@dataclass(frozen=True)
class LabelledRow:
    """One event's label and the features its score was computed from."""

    event_id: str
    account_id: str
    event_time: int
    label: int
    model_version: str
    score: float
    features: tuple[float, ...]  # the model's feature order, NaN for missing


@dataclass(frozen=True)
class LabelledCounts:
    """What a read of ``labelled`` held.

    ``corrections``: valid records flagged ``correction``; ``superseded``: valid
    records replaced by a later one of the same event; ``offsets``: per partition,
    the first and last offset read (bad records included).
    """

    records: int
    events: int
    positives: int
    negatives: int
    corrections: int
    superseded: int
    skipped: dict[str, int] = field(default_factory=dict)
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)


def parse_labelled(value: bytes | None, features: FeatureSet = EVENT_SET) -> LabelledRow | str:
    """A ``labelled`` record value as a row of ``features``, or the reason it is skipped
    (``feature_names``: its score had other features than these).

    >>> parse_labelled(b'{"event_id": 1}')
    'schema_invalid'
    """
    parsed = _parse(value, features)
    return parsed if isinstance(parsed, str) else parsed[0]


def _parse(value: bytes | None, features: FeatureSet | None) -> tuple[LabelledRow, bool] | str:
    """The row and its ``correction`` flag, or the reason the record is skipped
    (``features`` None: any feature set the code knows, for readers of labels and scores)."""
    if value is None:
        return "no_value"
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "malformed_json"
    if not validator("labelled").is_valid(doc):
        return "schema_invalid"
    logged: Mapping[str, Any] = doc["features"]
    if features is None:
        try:
            features = feature_set(list(logged))
        except ValueError:
            return "feature_names"
    if logged.keys() != features.name_set:
        return "feature_names"
    vector = tuple(math.nan if logged[n] is None else float(logged[n]) for n in features.names)
    for j in CATEGORICAL_INDEX:
        code = vector[j]
        if not math.isnan(code) and (code < 0 or not code.is_integer()):
            return "category_code"
    row = LabelledRow(
        event_id=doc["event_id"],
        account_id=doc["account_id"],
        event_time=doc["event_time"],
        label=doc["label"],
        model_version=doc["model_version"],
        score=float(doc["score"]),
        features=vector,
    )
    return row, bool(doc["correction"])


def latest_by_event(
    records: Iterable[InRecord], features: FeatureSet | None = EVENT_SET
) -> tuple[dict[str, LabelledRow], LabelledCounts]:
    """The latest valid record per event id (its features ``features``; None: whichever
    set its score had), and counts of what was read.

    Within a partition the later offset wins; an event found in several partitions
    (a producer not keying by event id) keeps its latest record of the highest
    partition, so the result never depends on the order partitions were read in.
    """
    # event id -> partition -> (offset, row): the latest per partition
    seen: dict[str, dict[int, tuple[int, LabelledRow]]] = {}
    skipped: Counter[str] = Counter()
    offsets: dict[int, tuple[int, int]] = {}
    n = corrections = valid = 0
    for rec in records:
        n += 1
        part, off = rec.origin.partition, rec.origin.offset
        lo, hi = offsets.get(part, (off, off))
        offsets[part] = (min(lo, off), max(hi, off))
        parsed = _parse(rec.value, features)
        if isinstance(parsed, str):
            skipped[parsed] += 1
            continue
        row, correction = parsed
        if rec.key is not None and rec.key != row.event_id.encode("utf-8"):
            skipped["key_mismatch"] += 1
            continue
        valid += 1
        corrections += correction
        by_part = seen.setdefault(row.event_id, {})
        if part not in by_part or by_part[part][0] < off:
            by_part[part] = (off, row)
    latest = {eid: _across_partitions(by_part) for eid, by_part in seen.items()}
    positives = sum(r.label for r in latest.values())
    counts = LabelledCounts(
        records=n,
        events=len(latest),
        positives=positives,
        negatives=len(latest) - positives,
        corrections=corrections,
        superseded=valid - len(latest),
        skipped=dict(sorted(skipped.items())),
        offsets=dict(sorted(offsets.items())),
    )
    return latest, counts


def _across_partitions(by_part: dict[int, tuple[int, LabelledRow]]) -> LabelledRow:
    # one partition normally; otherwise a choice independent of the reading order
    return by_part[max(by_part)][1]


def training_matrix(
    rows: Iterable[LabelledRow], features: FeatureSet = EVENT_SET
) -> tuple[Matrix, Matrix, Matrix]:
    """``(X, y, event_time)`` ordered by event time, then event id.

    >>> r = LabelledRow("e2", "a", 20, 1, "v1", 0.9, (1.0,) * len(EVENT_SET.names))
    >>> X, y, t = training_matrix([r, LabelledRow("e1", "a", 10, 0, "v1", 0.1, r.features)])
    >>> X.shape == (2, len(EVENT_SET.names)), y.tolist(), t.tolist()
    (True, [0.0, 1.0], [10.0, 20.0])
    """
    ordered = sorted(rows, key=lambda r: (r.event_time, r.event_id))
    width = len(features.names)
    X = np.array([r.features for r in ordered], dtype=np.float64).reshape(-1, width)
    y = np.array([r.label for r in ordered], dtype=np.float64)
    times = np.array([r.event_time for r in ordered], dtype=np.float64)
    return X, y, times
