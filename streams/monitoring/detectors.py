"""River behind one small API: drift detectors and rolling metrics.

River's API changes between releases (how a detector reports a detection, where
Page-Hinkley keeps its sums): this is the one module that knows it, and nothing else in
streamscore imports river (a test checks).

>>> d = Detector.adwin(delta=0.002)
>>> any(d.update(0.0) for _ in range(500)), any(d.update(1.0) for _ in range(500))
(False, True)
>>> import numpy as np
>>> m = ChunkMeanShift(columns=1, delta=0.5, threshold=10.0, size=250, centre=0.5)
>>> def chunk(mean):  # sums and squares of 250 values of this mean and variance 1/12
...     return np.array([250 * mean]), np.array([250 * (mean**2 + 1 / 12)]), np.array([250])
>>> any(m.update(*chunk(0.5)) for _ in range(50))
False
>>> fired = [m.update(*chunk(0.55)) for _ in range(9)]  # 0.05 up: 2.7 standard errors
>>> [i for i, columns in enumerate(fired) if columns]
[4]
>>> m.statistics[0] > 10
True
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from river import drift, metrics

Matrix = npt.NDArray[np.float64]


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

    @classmethod
    def page_hinkley(cls, delta: float, threshold: float, min_instances: int) -> Detector:
        """Page-Hinkley (a CUSUM): the sum of deviations from the running mean, less
        ``delta`` each, against ``threshold``; both in the input's units."""
        # alpha=1: no forgetting, the sums are what the threshold was calibrated on
        impl = drift.PageHinkley(
            min_instances=min_instances, delta=delta, threshold=threshold, alpha=1.0
        )
        return cls("PageHinkley", impl)

    def update(self, x: float) -> bool:
        """Feed one value; True when this value made the detector signal drift."""
        self._impl.update(x)
        return bool(self._impl.drift_detected)

    @property
    def statistic(self) -> float:
        """Page-Hinkley's test value after the last update: the larger one-sided sum,
        negative when it is the decrease (River keeps them in private attributes)."""
        ph = self._impl
        up = ph._sum_increase - ph._min_increase
        down = ph._max_decrease - ph._sum_decrease
        return float(up if up >= down else -down)


class ChunkMeanShift:
    """Page-Hinkley per column on the means of fixed-size chunks, in standard errors.

    Fed, per chunk, each column's sum and sum of squares over its ``counts`` present
    values (a column with fewer than half of ``size`` is skipped: too few to weigh).
    A chunk mean's standard error comes from the pooled within-chunk variance over
    ``size`` values, so there is no scale to configure and ``delta`` and ``threshold``
    are in standard errors. ``centre`` is subtracted before scaling: Page-Hinkley
    compares each value to its own running mean, and a centred value keeps the noise
    of the variance estimate out of that comparison.
    """

    # chunks before a detection may fire: the running mean needs a few to settle
    MIN_CHUNKS = 10

    def __init__(
        self, columns: int, delta: float, threshold: float, size: int, centre: float
    ) -> None:
        self.delta, self.threshold, self.size, self.centre = delta, threshold, size, centre
        self._detectors = [self._detector() for _ in range(columns)]
        self._var_sum, self._chunks = [0.0] * columns, [0] * columns
        self.statistics = [0.0] * columns  # each column's test value when it last fired

    def _detector(self) -> Detector:
        return Detector.page_hinkley(self.delta, self.threshold, self.MIN_CHUNKS)

    def update(self, sums: Matrix, squares: Matrix, counts: Matrix) -> list[int]:
        """Feed one chunk; the columns whose detector fired (each then starts afresh)."""
        fired, var_sum, chunks = [], self._var_sum, self._chunks
        # ten-odd columns: plain floats cost less than numpy calls on arrays this small
        for k, (s, sq, n) in enumerate(
            zip(sums.tolist(), squares.tolist(), counts.tolist(), strict=True)
        ):
            if n < self.size / 2:
                continue
            mean = s / n
            var_sum[k] += max(sq - n * mean * mean, 0.0) / (n - 1)
            chunks[k] += 1
            scale = math.sqrt(self.size * chunks[k] / var_sum[k]) if var_sum[k] > 0 else 0.0
            detector = self._detectors[k]
            if detector.update((mean - self.centre) * scale):
                self.statistics[k] = detector.statistic
                self._detectors[k], var_sum[k], chunks[k] = self._detector(), 0.0, 0
                fired.append(k)
        return fired


class RollingMetric:
    """A classification metric over the last ``window`` (label, score) pairs: River's
    rolling ROC AUC; log loss, precision and recall as River defines them, over a ring
    buffer (River's rolling wrapper costs ~2 µs an update each, these ~0.3; a test checks
    they agree)."""

    def __init__(self, kind: str, window: int, threshold: float = 0.5) -> None:
        self.kind = kind
        self.threshold = threshold
        self._auc: Any = metrics.RollingROCAUC(window_size=window) if kind == "roc_auc" else None
        self._window = window
        self._values: deque[float] = deque()  # log loss: each label's loss
        self._sum, self._updates = 0.0, 0
        self._pairs: deque[tuple[bool, bool]] = deque()  # precision/recall: (label, flagged)
        self._tp = self._fp = self._fn = 0

    def update(self, label: int, score: float) -> None:
        """Add one labelled score."""
        if self._auc is not None:
            self._auc.update(bool(label), score)  # probability of the positive class
        elif self.kind == "log_loss":
            self._add_loss(label, score)
        else:
            self._add_pair(bool(label), score >= self.threshold)

    def _add_loss(self, label: int, score: float) -> None:
        p = min(max(score, _CLAMP), 1 - _CLAMP)  # River's clamp
        loss = -math.log(p) if label else -math.log(1 - p)
        self._values.append(loss)
        self._sum += loss
        if len(self._values) > self._window:
            self._sum -= self._values.popleft()
        self._updates += 1
        if self._updates % self._window == 0:
            self._sum = math.fsum(self._values)  # once a window: no drift from long sums

    def _add_pair(self, label: bool, flagged: bool) -> None:
        self._pairs.append((label, flagged))
        self._count(label, flagged, 1)
        if len(self._pairs) > self._window:
            self._count(*self._pairs.popleft(), -1)

    def _count(self, label: bool, flagged: bool, n: int) -> None:
        self._tp += n * (label and flagged)
        self._fp += n * (flagged and not label)
        self._fn += n * (label and not flagged)

    def get(self) -> float:
        """The metric's current value (0 where it is undefined, as River's)."""
        if self._auc is not None:
            return float(self._auc.get())
        if self.kind == "log_loss":
            return self._sum / len(self._values) if self._values else 0.0
        wrong = self._fp if self.kind == "precision" else self._fn
        return self._tp / (self._tp + wrong) if self._tp + wrong else 0.0


_CLAMP = 1e-15
