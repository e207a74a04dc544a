"""A run's records, read from its topics into plain columns for the report.

Each topic is scanned once to its current end (:func:`streams.kafka.scan_topic`,
without joining a group), and only what the report draws is kept from each record:
its time, partition, and a few fields. Times are epoch milliseconds of the wall
clock: a score's ``scored_at``, a dead letter's ``__streamscore.errors.time``
header (its Kafka timestamp is the original event's), the Kafka timestamp of
everything else.

>>> s = Scores()
>>> s.add({"scored_at": 1_000, "event_timestamp": 990, "score": 0.2, "decision": "approve",
...        "model_version": "v1", "fallback": False, "features": {"amount": 5.0},
...        "source": {"partition": 3}}, ("amount", "channel"))
>>> s.scored_at, s.latency_ms, s.partition, s.rows["v1"]
([1000], [10.0], [3], [(5.0, nan)])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from streams.config import Settings
from streams.contract.dead_letters import H_PARTITION, H_REASON, H_TIME
from streams.contract.records import HeaderSource, header, headers_of
from streams.kafka import offsets_since, scan_topic


class Message(HeaderSource, Protocol):
    """What the report reads of a consumed record (a confluent-kafka Message has it)."""

    def value(self) -> bytes | None:
        """The record's value."""

    def timestamp(self) -> tuple[int, int]:
        """(timestamp type, epoch ms)."""

    def partition(self) -> int | None:
        """Its partition."""


@dataclass
class Scores:
    """The ``scores`` topic, a column per field the report uses; ``rows``: each version's
    feature vectors (NaN for null) in the order of ``names`` given to :meth:`add`."""

    scored_at: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)  # NaN: no event timestamp
    partition: list[int] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    decision: list[str] = field(default_factory=list)
    version: list[str] = field(default_factory=list)
    fallback: list[bool] = field(default_factory=list)
    rows: dict[str, list[tuple[float, ...]]] = field(default_factory=dict)

    def add(self, rec: dict[str, Any], names: Sequence[str]) -> None:
        """Keep one decoded score record."""
        at, sent = int(rec["scored_at"]), rec.get("event_timestamp")
        self.scored_at.append(at)
        self.latency_ms.append(float(at - sent) if sent is not None else math.nan)
        self.partition.append(int(rec["source"]["partition"]))
        self.score.append(float(rec["score"]))
        self.decision.append(str(rec["decision"]))
        self.version.append(str(rec["model_version"]))
        self.fallback.append(bool(rec["fallback"]))
        feats = rec.get("features") or {}
        row = tuple(math.nan if feats.get(n) is None else float(feats[n]) for n in names)
        self.rows.setdefault(str(rec["model_version"]), []).append(row)


@dataclass(frozen=True)
class Alert:
    """A ``drift.alerts`` record: when it was written, and what it says."""

    at: int
    signal: str
    feature: str | None
    statistic_name: str
    statistic: float
    threshold: float
    model_version: str


@dataclass(frozen=True)
class Label:
    """An event's latest ``labelled`` record: when it was scored, its label and score."""

    score_time: int
    label: int
    score: float
    version: str


@dataclass
class RunData:
    """Everything the report draws, from the run's topics."""

    events: list[tuple[int, int]] = field(default_factory=list)  # (time, partition)
    scores: Scores = field(default_factory=Scores)
    dead: list[tuple[int, int, str]] = field(default_factory=list)  # (time, partition, reason)
    feedback_dead: list[tuple[int, int, str]] = field(default_factory=list)  # feedback.dlq
    alerts: list[Alert] = field(default_factory=list)
    labels: dict[str, Label] = field(default_factory=dict)  # by event id

    def span(self) -> tuple[int, int] | None:
        """First and last time of any record, or None for an empty run."""
        times = [t for t, _ in self.events] + self.scores.scored_at
        times += [t for t, _, _ in self.dead] + [a.at for a in self.alerts]
        return (min(times), max(times)) if times else None


def _stamp(msg: Message) -> int:
    return msg.timestamp()[1]


def _decoded(msg: Message) -> dict[str, Any] | None:
    """The record's JSON object, or None for anything else (a report skips it)."""
    try:
        value = orjson.loads(msg.value() or b"")
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def dead_letter_of(msg: Message) -> tuple[int, int, str]:
    """(written time, source partition, reason) of a dead letter, from its headers."""
    found = headers_of(msg)
    written = header(found, H_TIME)
    partition = header(found, H_PARTITION)
    return (
        int(written) if written and written.isdigit() else _stamp(msg),
        int(partition) if partition and partition.isdigit() else msg.partition() or 0,
        header(found, H_REASON) or "unknown",
    )


def alert_of(msg: Message) -> Alert | None:
    """A drift alert record, or None when it is not one."""
    rec = _decoded(msg)
    if rec is None or "signal" not in rec:
        return None
    return Alert(
        _stamp(msg),
        str(rec["signal"]),
        rec.get("feature"),
        str(rec.get("statistic_name", "")),
        float(rec.get("statistic", math.nan)),
        float(rec.get("threshold", math.nan)),
        str(rec.get("model_version", "")),
    )


def _keep_label(labels: dict[str, Label]) -> Callable[[Message], None]:
    def take(msg: Message) -> None:
        rec = _decoded(msg)
        if rec is not None and "label" in rec and "event_id" in rec:
            # read in order per partition, keyed by event: the last one is the current label
            labels[str(rec["event_id"])] = Label(
                int(rec["score_time"]),
                int(rec["label"]),
                float(rec["score"]),
                str(rec["model_version"]),
            )

    return take


def _keep_score(scores: Scores, names: Sequence[str]) -> Callable[[Message], None]:
    def take(msg: Message) -> None:
        rec = _decoded(msg)
        if rec is not None and "scored_at" in rec:
            scores.add(rec, names)

    return take


def read_run(
    settings: Settings,
    names: Sequence[str],
    since_ms: int | None = None,
    deadline_s: float = 120.0,
) -> RunData:
    """The run's records from ``settings``' topics (a missing topic reads as empty);
    ``names``: the features whose values are kept from each score; ``since_ms``: only
    records whose Kafka timestamp is that or later (None: every record kept)."""
    run = RunData()

    def take_event(msg: Message) -> None:
        run.events.append((_stamp(msg), msg.partition() or 0))

    def take_dead(msg: Message) -> None:
        run.dead.append(dead_letter_of(msg))

    def take_feedback_dead(msg: Message) -> None:
        run.feedback_dead.append(dead_letter_of(msg))

    def take_alert(msg: Message) -> None:
        if (alert := alert_of(msg)) is not None:
            run.alerts.append(alert)

    def scan(topic: str, take: Callable[[Message], None]) -> None:
        starts = None if since_ms is None else offsets_since(settings, topic, since_ms)
        scan_topic(settings, topic, take, deadline_s, starts)

    s = settings
    scan(s.topic_events, take_event)
    scan(s.topic_scores, _keep_score(run.scores, names))
    scan(s.topic_dlq, take_dead)
    scan(s.topic_feedback_dlq, take_feedback_dead)
    scan(s.topic_drift_alerts, take_alert)
    scan(s.topic_labelled, _keep_label(run.labels))
    run.alerts.sort(key=lambda a: a.at)
    return run
