"""River behind one small API: drift detectors and rolling metrics.

River's detector API has changed between versions (``update`` used to return
``(in_drift, in_warning)``; now it returns the detector and sets
``drift_detected``). Nothing else in streamscore imports river.

>>> d = Detector.adwin(delta=0.002)
>>> any(d.update(0.0) for _ in range(500)), any(d.update(1.0) for _ in range(500))
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from river import drift, metrics, utils


@dataclass
class Detector:
    """A River drift detector fed one number at a time; ``update`` says if it fired."""

    name: str
    _impl: Any

    @classmethod
    def adwin(cls, delta: float = 0.002) -> Detector:
        """ADWIN: adaptive window, for a real-valued stream whose mean may shift."""
        # clock=1: check for a change on every update (we feed one value per chunk, not per event)
        return cls("ADWIN", drift.ADWIN(delta=delta, clock=1))

    def update(self, x: float) -> bool:
        """Feed one value; True when this value made the detector signal drift."""
        result = self._impl.update(x)
        if isinstance(result, tuple):  # river < 0.15 returned (in_drift, in_warning)
            return bool(result[0])
        return bool(self._impl.drift_detected)


class RollingMetric:
    """A River classification metric over the last ``window`` (label, score) pairs."""

    def __init__(self, kind: str, window: int, threshold: float = 0.5) -> None:
        self.kind = kind
        self.threshold = threshold
        if kind == "roc_auc":
            self._impl: Any = metrics.RollingROCAUC(window_size=window)
        else:
            base = {"log_loss": metrics.LogLoss, "precision": metrics.Precision,
                    "recall": metrics.Recall}[kind]  # fmt: skip
            self._impl = utils.Rolling(base, window_size=window)

    def update(self, label: int, score: float) -> None:
        """Add one labelled score."""
        if self.kind in ("roc_auc", "log_loss"):
            self._impl.update(bool(label), score)  # probability of the positive class
        else:
            self._impl.update(bool(label), score >= self.threshold)

    def get(self) -> float:
        """The metric's current value."""
        return float(self._impl.get())
