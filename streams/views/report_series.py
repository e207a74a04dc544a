"""The report's time series: records per second, latency percentiles, lag and online AUC
per time bucket. Pure: lists of times in, :class:`Series` out.

Time is in seconds since the run's first record (``x``); a bucket's value is drawn at its
middle (rates, latency, AUC) or at its end (lag: what was still to do at that moment).
A bucket with nothing to measure is NaN: a gap in the line, not a zero.

>>> b = Buckets.over(0, 9_999, 10)
>>> b.width_ms, b.count
(1000, 10)
>>> rate(b, [0, 10, 1_500], "events/s").points[:2]
[(0.5, 2.0), (1.5, 1.0)]
>>> [y for _, y in lag(b, [(0, 0), (10, 0), (1_500, 1)], [(900, 0), (2_100, 1)])[0].points[:3]]
[1.0, 2.0, 1.0]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from streams.model.metrics import roc_auc


@dataclass(frozen=True)
class Series:
    """One line of a chart: a name and its (x, y) points; NaN y is a gap."""

    name: str
    points: list[tuple[float, float]]

    @property
    def drawn(self) -> bool:
        """Whether any point has a value."""
        return any(not math.isnan(y) for _, y in self.points)


@dataclass(frozen=True)
class Buckets:
    """``count`` consecutive buckets of ``width_ms`` from ``start_ms``."""

    start_ms: int
    width_ms: int
    count: int

    @classmethod
    def over(cls, start_ms: int, end_ms: int, most: int = 60) -> Buckets:
        """``most`` (or fewer) equal buckets from ``start_ms`` whose last one ends with
        ``end_ms``'s millisecond: a bucket at the end is as full as the others, so a rate
        does not seem to fall there."""
        span = max(end_ms - start_ms + 1, 1)
        width = -(-span // most)
        return cls(start_ms, width, -(-span // width))

    def index(self, times: Sequence[int]) -> np.ndarray:
        """The bucket of each time, clipped to the buckets."""
        at = (np.asarray(times, dtype=np.int64) - self.start_ms) // self.width_ms
        return np.clip(at, 0, self.count - 1)

    def x(self, i: int, at_end: bool = False) -> float:
        """Seconds from the start to bucket ``i``'s middle (or its end)."""
        return (i + (1.0 if at_end else 0.5)) * self.width_ms / 1000.0

    @property
    def end_s(self) -> float:
        """Seconds from the start to the last bucket's end."""
        return self.count * self.width_ms / 1000.0


def rate(b: Buckets, times: Sequence[int], name: str) -> Series:
    """Records per second in each bucket."""
    counts = np.bincount(b.index(times), minlength=b.count) if times else np.zeros(b.count)
    per_s = b.width_ms / 1000.0
    return Series(name, [(b.x(i), float(c) / per_s) for i, c in enumerate(counts.tolist())])


def percentiles(
    b: Buckets, times: Sequence[int], values: Sequence[float], qs: Sequence[float] = (50, 99)
) -> list[Series]:
    """The ``qs`` percentiles of ``values`` (NaN values skipped) in each bucket, a series
    per percentile, named ``p50``, ``p99``, ..."""
    per: dict[int, list[float]] = defaultdict(list)
    for i, v in zip(b.index(times).tolist(), values, strict=True):
        if not math.isnan(v):
            per[i].append(v)
    out = []
    for q in qs:
        pts = [
            (b.x(i), float(np.percentile(per[i], q)) if per.get(i) else math.nan)
            for i in range(b.count)
        ]
        out.append(Series(f"p{q:g}", pts))
    return out


def _cumulative(b: Buckets, items: Iterable[tuple[int, int]]) -> dict[int, np.ndarray]:
    """Per partition, how many items had happened by the end of each bucket."""
    counts: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(b.count, dtype=np.int64))
    for partition, group in _by_partition(items).items():
        counts[partition] += np.bincount(b.index(group), minlength=b.count)
    return {p: np.cumsum(c) for p, c in counts.items()}


def _by_partition(items: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for t, p in items:
        out[p].append(t)
    return out


def lag(
    b: Buckets, produced: Iterable[tuple[int, int]], done: Iterable[tuple[int, int]]
) -> list[Series]:
    """Records produced but not yet done at each bucket's end, from ``(time, partition)``
    pairs: the total first, then a series per partition (``p0``, ``p1``, ...)."""
    made, finished = _cumulative(b, produced), _cumulative(b, done)
    zero = np.zeros(b.count, dtype=np.int64)
    per = {
        p: made.get(p, zero) - finished.get(p, zero) for p in sorted(made.keys() | finished.keys())
    }
    total = sum(per.values(), zero)
    xs = [b.x(i, at_end=True) for i in range(b.count)]
    out = [Series("total", [(x, float(v)) for x, v in zip(xs, total.tolist(), strict=True)])]
    for p, values in per.items():
        out.append(
            Series(f"p{p}", [(x, float(v)) for x, v in zip(xs, values.tolist(), strict=True)])
        )
    return out


def auc_by_version(
    b: Buckets, labelled: Iterable[tuple[int, int, float, str]], least: int = 30
) -> list[Series]:
    """ROC AUC of each model version's scores in each bucket, from ``(score time, label,
    score, version)``: NaN where a bucket has fewer than ``least`` labels, or one class.

    >>> rows = [(0, i % 2, 0.2 + 0.5 * (i % 2), "v1") for i in range(40)]
    >>> auc_by_version(Buckets(0, 1000, 2), rows)[0].points
    [(0.5, 1.0), (1.5, nan)]
    """
    per: dict[str, dict[int, tuple[list[int], list[float]]]] = defaultdict(dict)
    rows = list(labelled)
    index = b.index([t for t, _, _, _ in rows]).tolist() if rows else []
    for i, (_, y, p, version) in zip(index, rows, strict=True):
        ys, ps = per[version].setdefault(i, ([], []))
        ys.append(y)
        ps.append(p)
    out = []
    for version in sorted(per):
        pts = []
        for i in range(b.count):
            ys, ps = per[version].get(i, ([], []))
            value = (
                roc_auc(np.array(ys, float), np.array(ps, float)) if len(ys) >= least else math.nan
            )
            pts.append((b.x(i), value))
        out.append(Series(version, pts))
    return out


def counts_by(keys: Iterable[str]) -> list[tuple[str, int]]:
    """How many of each key, most first (then by name).

    >>> counts_by(["b", "a", "b"])
    [('b', 2), ('a', 1)]
    """
    seen: dict[str, int] = defaultdict(int)
    for k in keys:
        seen[k] += 1
    return sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
