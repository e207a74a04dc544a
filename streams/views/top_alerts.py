"""Alerts for ``streamscore top``: the alert counters of every target, and which went up.

The scorer counts drift detections by signal and feature, the joiner its concept-drift
and estimate-divergence alerts; a view remembers the last read's rows to tell when a
count last rose.

>>> from streams.views.scrape import Sample, Scrape
>>> def read(n):
...     s = Sample(DETECTIONS, {"signal": "distribution", "feature": "amount"}, n)
...     return [Scrape("s:1", 0.0, [s], wall=1_700_000_000.0 + n)]
>>> first = alert_rows(read(1.0), None)
>>> first[0].feature, first[0].count, first[0].last_seen
('amount', 1.0, None)
>>> alert_rows(read(2.0), first)[0].last_seen
1700000002.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.views.scrape import Scrape

DETECTIONS = "streamscore_drift_detections_total"
CONCEPT = "streamscore_concept_drift_alerts_total"
ESTIMATE_ALERTS = "streamscore_estimate_divergence_alerts_total"


@dataclass(frozen=True)
class AlertRow:
    """Alerts of one kind so far; ``last_seen`` (epoch seconds) when the view saw the
    count go up, None when it was already there at the view's first read."""

    source: str
    signal: str
    feature: str
    count: float
    last_seen: float | None


def alert_counts(scrapes: Sequence[Scrape]) -> dict[tuple[str, str, str], tuple[float, float]]:
    """``(source, signal, feature) -> (count, when read)`` of every alert counter."""
    out: dict[tuple[str, str, str], tuple[float, float]] = {}

    def add(key: tuple[str, str, str], value: float, wall: float) -> None:
        if value > 0:
            out[key] = (out.get(key, (0.0, wall))[0] + value, wall)

    for s in scrapes:
        for sample in s.find(DETECTIONS):
            signal, feature = sample.labels["signal"], sample.labels["feature"]
            add(("scorer", signal, feature), sample.value, s.wall)
        if s.has(CONCEPT):
            add(("joiner", "concept", "quality"), s.total(CONCEPT), s.wall)
        if s.has(ESTIMATE_ALERTS):
            add(("joiner", "estimate_divergence", "auc"), s.total(ESTIMATE_ALERTS), s.wall)
    return out


def alert_rows(
    scrapes: Sequence[Scrape], before: Sequence[AlertRow] | None
) -> tuple[AlertRow, ...]:
    """The alerts so far, most recent first: ``before`` (the last frame's rows; None on
    the first read) says which counts went up since, and when they last did."""
    known = {(r.source, r.signal, r.feature): r for r in before or ()}
    rows = []
    for key, (count, wall) in alert_counts(scrapes).items():
        old = known.get(key)
        if before is None:
            last = None
        elif old is None or count > old.count:
            last = wall
        else:
            last = old.last_seen
        rows.append(AlertRow(*key, count, last))
    return tuple(sorted(rows, key=lambda r: (-(r.last_seen or 0.0), -r.count, r.signal)))
