"""Online model quality on the joined stream, per model version, and concept-drift alerts.

Fed one labelled record at a time (first labels only: a rolling metric cannot take
a label back, so corrections are counted but not re-scored). Rolling ROC AUC, log
loss, and precision/recall of "flagged" (score >= the review threshold) over the
last ``window`` labels; ADWIN watches the per-label log loss and raises a
concept-drift alert, at most one per ``cooldown`` labels.

>>> q = OnlineQuality(window=500, threshold=0.2, cooldown=1000)
>>> q.update("v1", label=1, score=0.9, time_ms=0, origin=None) is None
True
>>> round(q.snapshot()["v1"]["log_loss"], 3)
0.105
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.contract.records import Origin
from streams.monitoring.alerts import DriftAlert, Position, positions
from streams.monitoring.detectors import Detector, RollingMetric

METRICS = ("roc_auc", "log_loss", "precision", "recall")
_EPS = 1e-15


@dataclass
class _VersionQuality:
    metrics: dict[str, RollingMetric]
    detector: Detector
    seen: int = 0
    quiet_until: int = 0
    window: int = 0  # labels since the last alert
    window_first_time: int = 0
    window_start: dict[tuple[str, int], int] = field(default_factory=dict)  # first offsets


class OnlineQuality:
    """Rolling quality per model version plus an ADWIN concept-drift detector on log loss."""

    def __init__(self, window: int, threshold: float, cooldown: int, delta: float = 0.002):
        self.window = window
        self.threshold = threshold
        self.cooldown = cooldown
        self.delta = delta
        self._by_version: dict[str, _VersionQuality] = {}

    def _get(self, version: str) -> _VersionQuality:
        if version not in self._by_version:
            self._by_version[version] = _VersionQuality(
                {m: RollingMetric(m, self.window, self.threshold) for m in METRICS},
                Detector.adwin(self.delta),
            )
        return self._by_version[version]

    def update(
        self, version: str, label: int, score: float, time_ms: int, origin: Origin | None
    ) -> dict[str, Any] | None:
        """Add one label; a concept-drift alert's record when ADWIN fires (past the cool-down)."""
        vq = self._get(version)
        for metric in vq.metrics.values():
            metric.update(label, score)
        vq.seen += 1
        if vq.window == 0:
            vq.window_first_time = time_ms
        vq.window += 1
        if origin is not None:
            vq.window_start.setdefault((origin.topic, origin.partition), origin.offset)
        p = min(max(score, _EPS), 1 - _EPS)
        loss = -math.log(p) if label else -math.log(1 - p)
        if not vq.detector.update(loss) or vq.seen < vq.quiet_until:
            return None
        vq.quiet_until = vq.seen + self.cooldown
        alert = DriftAlert(
            "concept",
            None,
            vq.detector.name,
            vq.metrics["log_loss"].get(),
            "rolling_log_loss",
            self.delta,
            vq.window,
            version,
            vq.window_first_time,
            positions(vq.window_start),
            Position.of(origin),
            time_ms,
            vq.seen,
        )
        vq.window, vq.window_start = 0, {}
        return alert.record()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Current rolling metrics per model version."""
        return {v: {m: q.metrics[m].get() for m in METRICS} for v, q in self._by_version.items()}
