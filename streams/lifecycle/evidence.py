"""The labels two versions have both seen, read from Kafka, and the gate's verdict on them.

A ``labelled`` record carries the deciding version's score (its ``model_version``);
``scores.shadow`` adds the score of every version that scored the event without
deciding. Per labelled event (its latest label) that gives a score per version, and for
a pair (champion, challenger) the arrays of the events both scored, in event id order.

>>> rows = {"e1": LabelledRow("e1", "a", 1, 1, "v1", 0.7, ())}
>>> paired_scores(rows, {"e1": {"v2": 0.9}}, "v1", "v2")
(array([1.]), array([0.7]), array([0.9]))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from streams.config import Settings
from streams.contract.join_inputs import parse_shadow
from streams.contract.validation import Problem
from streams.kafka import read_topic, scan_topic
from streams.kafka.runtime import connect, require_topics
from streams.lifecycle.gate import GateEvidence, gate_evidence
from streams.lifecycle.labelled_data import LabelledRow, latest_by_event
from streams.model.features import Matrix

if TYPE_CHECKING:
    from confluent_kafka import Message


class ShadowScores:
    """Collects ``scores.shadow`` scores of some versions on some events (others dropped)."""

    def __init__(self, events: Mapping[str, object], versions: set[str]) -> None:
        self._events = events
        self._versions = versions
        self.scores: dict[str, dict[str, float]] = {}
        self.skipped = 0

    def add(self, value: bytes | None) -> None:
        """One record's value; a later record of the same event and version wins."""
        shadow = parse_shadow(value)
        if isinstance(shadow, Problem):
            self.skipped += 1
        elif shadow.event_id in self._events and shadow.model_version in self._versions:
            self.scores.setdefault(shadow.event_id, {})[shadow.model_version] = shadow.score

    def take(self, msg: Message) -> None:
        """:func:`streams.kafka.scan_topic`'s callback."""
        self.add(msg.value())


def paired_scores(
    rows: Mapping[str, LabelledRow],
    shadow: Mapping[str, Mapping[str, float]],
    champion: str,
    challenger: str,
) -> tuple[Matrix, Matrix, Matrix]:
    """``(labels, champion scores, challenger scores)`` over the events both versions scored."""
    labels: list[float] = []
    a: list[float] = []
    b: list[float] = []
    for event_id in sorted(rows):
        row = rows[event_id]
        scores = {**shadow.get(event_id, {}), row.model_version: row.score}
        if champion in scores and challenger in scores:
            labels.append(float(row.label))
            a.append(scores[champion])
            b.append(scores[challenger])
    f64 = np.float64
    return np.array(labels, dtype=f64), np.array(a, dtype=f64), np.array(b, dtype=f64)


def read_paired(
    settings: Settings, champion: str, challenger: str
) -> tuple[Matrix, Matrix, Matrix]:
    """:func:`paired_scores` over ``topic_labelled`` and ``topic_scores_shadow``."""
    require_topics(settings, [settings.topic_labelled, settings.topic_scores_shadow])
    rows, _counts = latest_by_event(read_topic(settings, settings.topic_labelled), None)
    shadow = ShadowScores(rows, {champion, challenger})
    scan_topic(settings, settings.topic_scores_shadow, shadow.take)
    return paired_scores(rows, shadow.scores, champion, challenger)


def collect_evidence(settings: Settings, champion: str, challenger: str) -> GateEvidence:
    """The gate's evidence for promoting ``challenger`` over ``champion`` (settings' gate_*)."""
    with connect(settings, create_topics=False) as rt:  # embedded: a fresh, empty cluster
        labels, a, b = read_paired(rt.settings, champion, challenger)
    return gate_evidence(
        labels,
        a,
        b,
        min_labels=settings.gate_min_labels,
        margin=settings.gate_margin,
        confidence=settings.gate_confidence,
        resamples=settings.gate_resamples,
    )
