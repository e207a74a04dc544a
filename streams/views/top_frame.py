"""What ``streamscore top`` shows, computed from two reads of the targets (no terminal).

:func:`build_frame` turns the previous and the current :class:`~streams.views.scrape.Scrape`
of every target into a :class:`Frame`: rates from the counters' increase between the
two reads, latency quantiles from the histogram buckets that filled in between (all of
them on the first read), lag per partition, the decision mix, dead letters by reason,
drift per feature against the settings' thresholds, online quality per model version,
and the alerts whose counters went up. A target that is down is a row saying so.

>>> from streams.views.scrape import Sample, Scrape
>>> def read(at, consumed):
...     return [Scrape("s:1", at, [Sample("streamscore_events_consumed_total", {}, consumed)])]
>>> frame = build_frame(read(0.0, 100.0), read(2.0, 300.0), Thresholds(0.25, 0.05))
>>> frame.consumed, frame.in_rate, frame.targets[0].role
(300.0, 100.0, 'scorer')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from streams.config import Settings
from streams.views.scrape import Scrape
from streams.views.top_alerts import AlertRow, alert_rows

CONSUMED = "streamscore_events_consumed_total"
SCORED = "streamscore_events_scored_total"
DEAD = "streamscore_events_dead_lettered_total"
JOIN_DEAD = "streamscore_join_dead_lettered_total"
JOINED = "streamscore_join_events_total"
LATENCY = "streamscore_end_to_end_latency_seconds_bucket"
LAG = "streamscore_consumer_lag"
DRIFT = "streamscore_drift_value"
DRIFT_MEASURES = ("psi", "missing_rate", "unseen_rate")


@dataclass(frozen=True)
class Thresholds:
    """The drift monitor's alert levels for the measures exported as absolute values
    (missing_rate alerts on a rise over the reference, which /metrics does not carry)."""

    psi: float
    unseen_rate: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The levels the scorer's drift monitor uses."""
        return cls(settings.drift_psi_threshold, settings.drift_unseen_threshold)

    def over(self, measure: str, value: float) -> bool:
        """Whether ``value`` of ``measure`` is above its alert level."""
        level = {"psi": self.psi, "unseen_rate": self.unseen_rate}.get(measure)
        return level is not None and value > level


@dataclass(frozen=True)
class TargetRow:
    """One target: up or why not, and what it is (from the metrics it exports)."""

    target: str
    up: bool
    role: str  # scorer, joiner, lag, other; "?" when down
    error: str | None = None


@dataclass(frozen=True)
class LagRow:
    """Consumer lag of one partition for one group."""

    group: str
    topic: str
    partition: int
    lag: float


@dataclass(frozen=True)
class DriftRow:
    """A feature's latest window measures, and which are over their threshold."""

    feature: str
    values: Mapping[str, float]
    over: frozenset[str]


@dataclass(frozen=True)
class Frame:
    """One screen of ``streamscore top``."""

    targets: tuple[TargetRow, ...]
    consumed: float = 0.0
    scored: float = 0.0
    in_rate: float | None = None  # events/s read by the scorers
    out_rate: float | None = None  # scores and dead letters/s written by them
    labelled_rate: float | None = None  # joined labels/s
    p50: float | None = None  # seconds, event timestamp to score committed
    p99: float | None = None
    lag: tuple[LagRow, ...] = ()
    decisions: Mapping[str, float] = field(default_factory=dict)
    dead_letters: Mapping[tuple[str, str], float] = field(default_factory=dict)
    drift: tuple[DriftRow, ...] = ()
    quality: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    alerts: tuple[AlertRow, ...] = ()

    @property
    def total_lag(self) -> float:
        """Lag summed over every partition shown."""
        return sum(r.lag for r in self.lag)

    @property
    def total_dead(self) -> float:
        """Dead letters of every processor, every reason."""
        return sum(self.dead_letters.values())

    @property
    def has_data(self) -> bool:
        """Whether any target is up."""
        return any(t.up for t in self.targets)


def role(scrape: Scrape) -> str:
    """What the target is, from the metrics it exports."""
    if not scrape.up:
        return "?"
    if scrape.has(CONSUMED):
        return "scorer"
    if scrape.has("streamscore_join_state_entries"):
        return "joiner"
    return "lag" if scrape.has(LAG) else "other"


def rate(prev: Sequence[Scrape], now: Sequence[Scrape], *names: str, **labels: str) -> float | None:
    """Per-second increase of the counters ``names`` (their samples with ``labels``)
    summed over the targets read twice; None when no target was. A counter that went
    down (a restart) counts from 0."""
    before = {s.target: s for s in prev if s.up}
    total, seen = 0.0, False
    for s in now:
        p = before.get(s.target)
        if not s.up or p is None or s.at <= p.at or not any(s.has(n) for n in names):
            continue
        increase = sum(s.total(n, **labels) - p.total(n, **labels) for n in names)
        if increase < 0:
            increase = sum(s.total(n, **labels) for n in names)
        total, seen = total + increase / (s.at - p.at), True
    return total if seen else None


def buckets(scrapes: Sequence[Scrape], name: str = LATENCY) -> dict[float, float]:
    """Cumulative histogram counts by upper bound, summed over ``scrapes``."""
    out: dict[float, float] = {}
    for s in scrapes:
        for sample in s.find(name):
            le = float(sample.labels["le"])
            out[le] = out.get(le, 0.0) + sample.value
    return out


def quantile(q: float, cumulative: Mapping[float, float]) -> float | None:
    """Prometheus's ``histogram_quantile``: linear within the bucket the rank falls in;
    the highest finite bound when it falls in ``+Inf``; None without observations.

    >>> quantile(0.5, {0.01: 2.0, 0.1: 4.0, math.inf: 4.0})
    0.01
    >>> quantile(0.75, {0.01: 2.0, 0.1: 4.0, math.inf: 4.0})
    0.055
    """
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return None
    rank = q * cumulative[bounds[-1]]
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = cumulative[upper]
        if count >= rank:
            if math.isinf(upper):
                return lower
            if count == below:
                return upper
            return round(lower + (upper - lower) * (rank - below) / (count - below), 12)
        lower, below = upper, count
    return lower


def latency(prev: Sequence[Scrape], now: Sequence[Scrape], q: float) -> float | None:
    """Quantile ``q`` of the events scored between the reads (all of them if none were)."""
    current = buckets([s for s in now if s.up])
    earlier = buckets([s for s in prev if s.up and s.target in {n.target for n in now if n.up}])
    recent = {le: c - earlier.get(le, 0.0) for le, c in current.items()}
    if recent and max(recent.values()) > 0 and min(recent.values()) >= 0:
        return quantile(q, recent)
    return quantile(q, current)


def lag_rows(scrapes: Sequence[Scrape]) -> tuple[LagRow, ...]:
    """Lag per group, topic and partition; the largest where two targets report one."""
    rows: dict[tuple[str, str, int], float] = {}
    for s in scrapes:
        for sample in s.find(LAG):
            key = (sample.labels["group"], sample.labels["topic"], int(sample.labels["partition"]))
            rows[key] = max(rows.get(key, 0.0), sample.value)
    return tuple(LagRow(g, t, p, v) for (g, t, p), v in sorted(rows.items()))


def summed(scrapes: Sequence[Scrape], name: str, label: str) -> dict[str, float]:
    """``name``'s samples summed by ``label`` over every target."""
    out: dict[str, float] = {}
    for s in scrapes:
        for key, value in s.by(name, label).items():
            out[key] = out.get(key, 0.0) + value
    return out


def drift_rows(scrapes: Sequence[Scrape], thresholds: Thresholds) -> tuple[DriftRow, ...]:
    """Each feature's window measures (the largest over the scorers), over-threshold first."""
    values: dict[str, dict[str, float]] = {}
    for s in scrapes:
        for sample in s.find(DRIFT):
            measure, feature = sample.labels["measure"], sample.labels["feature"]
            if measure in DRIFT_MEASURES:
                row = values.setdefault(feature, {})
                row[measure] = max(row.get(measure, sample.value), sample.value)
    rows = [
        DriftRow(f, v, frozenset(m for m, x in v.items() if thresholds.over(m, x)))
        for f, v in values.items()
    ]
    return tuple(sorted(rows, key=lambda r: (not r.over, -r.values.get("psi", 0.0), r.feature)))


def quality(scrapes: Sequence[Scrape]) -> dict[str, dict[str, float]]:
    """Online quality per model version (the joiners' gauges, and the AUC estimate)."""
    out: dict[str, dict[str, float]] = {}
    for s in scrapes:
        for sample in s.find("streamscore_online_quality"):
            version = out.setdefault(sample.labels["model_version"], {})
            version[sample.labels["metric"]] = sample.value
        for sample in s.find("streamscore_estimated_auc"):
            out.setdefault(sample.labels["model_version"], {})["estimated_auc"] = sample.value
    return out


def build_frame(
    prev: Sequence[Scrape],
    now: Sequence[Scrape],
    thresholds: Thresholds,
    alerts_before: Sequence[AlertRow] | None = None,
) -> Frame:
    """The screen for the reads ``now``, with rates since ``prev`` (empty: no rates)."""
    up = [s for s in now if s.up]
    dead = {("scorer", r): n for r, n in summed(up, DEAD, "reason").items()}
    dead |= {("joiner", r): n for r, n in summed(up, JOIN_DEAD, "reason").items()}
    return Frame(
        targets=tuple(TargetRow(s.target, s.up, role(s), s.error) for s in now),
        consumed=sum(s.total(CONSUMED) for s in up),
        scored=sum(s.total(SCORED) for s in up),
        in_rate=rate(prev, now, CONSUMED),
        out_rate=rate(prev, now, SCORED, DEAD),
        labelled_rate=rate(prev, now, JOINED, kind="joined"),
        p50=latency(prev, now, 0.5),
        p99=latency(prev, now, 0.99),
        lag=lag_rows(up),
        decisions=summed(up, "streamscore_decisions_total", "decision"),
        dead_letters=dead,
        drift=drift_rows(up, thresholds),
        quality=quality(up),
        alerts=alert_rows(up, alerts_before),
    )
