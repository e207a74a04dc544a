"""Drift alerts: the one record type of ``drift.alerts`` (``schemas/drift_alert.schema.json``).

The scorer's data-drift monitor (:mod:`streams.monitoring.drift`), the joiner's
concept-drift detector (:mod:`streams.monitoring.quality`) and its performance
estimate (:mod:`streams.monitoring.estimate`) all build a :class:`DriftAlert`;
:meth:`DriftAlert.record` is its wire form. Positions say where to find the events:
the one whose arrival raised the alert (``trigger``) and, per partition, the first
offset of the window the statistic was computed on (``window_start``).

>>> from streams.contract.records import Origin
>>> origins = [Origin("events", 1, 40), Origin("events", 0, 7), Origin("events", 1, 41)]
>>> [p.partition for p in first_positions(origins)], first_positions(origins)[1].offset
([0, 1], 40)
>>> alert = DriftAlert("missing_rate", "amount", "window", 0.5, "missing_rate", 0.2, 1_000,
...                    "v1", 0, first_positions(origins), Position.of(origins[-1]), 9, 1_000)
>>> alert.record()["trigger"], alert.retrain_requested
({'topic': 'events', 'partition': 1, 'offset': 41}, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.contract.records import Origin

RETRAIN_SIGNALS = ("distribution", "mean_shift", "concept")
"""Signals that ask for a new model: the world changed, not an upstream data bug.
``estimate_divergence`` is not one: it says the estimate cannot be trusted (concept
raises the retrain when realised quality falls)."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record is: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, origin: Origin | None) -> Position | None:
        """The position of a consumed record (None when it has none)."""
        return None if origin is None else cls(origin.topic, origin.partition, origin.offset)


def first_positions(origins: Iterable[Origin | None]) -> list[Position]:
    """The first position of each (topic, partition) in ``origins``, sorted by both."""
    first: dict[tuple[str, int], int] = {}
    for o in origins:
        if o is not None:
            first.setdefault((o.topic, o.partition), o.offset)
    return positions(first)


def positions(offsets: Mapping[tuple[str, int], int]) -> list[Position]:
    """``{(topic, partition): offset}`` as positions sorted by topic and partition."""
    return [Position(t, p, offset) for (t, p), offset in sorted(offsets.items())]


@dataclass(frozen=True, slots=True)
class DriftAlert:
    """One detection; ``feature`` None means the score (data drift) or the model (concept,
    estimate divergence)."""

    signal: str
    feature: str | None
    detector: str
    statistic: float
    statistic_name: str
    threshold: float
    window: int  # observations the statistic was computed on
    model_version: str
    window_first_time: int  # event time of the window's first observation, epoch ms
    window_start: list[Position]
    trigger: Position | None
    time: int  # event time of the trigger, epoch ms
    events_seen: int  # observations seen, the trigger included

    @property
    def retrain_requested(self) -> bool:
        """True for a changing world (distribution, mean shift, concept)."""
        return self.signal in RETRAIN_SIGNALS

    def record(self) -> dict[str, Any]:
        """The ``drift.alerts`` record (a JSON-ready dict)."""
        out = dataclasses.asdict(self)
        out["statistic"] = round(float(self.statistic), 6)
        out["retrain_requested"] = self.retrain_requested
        return out
