"""A model version's ROC AUC estimated before its labels arrive, and its calibration checked.

Confidence-based performance estimation (CBPE, as NannyML's): if a version's scores are
calibrated probabilities, the label of a score ``p`` is Bernoulli(``p``), so the AUC its
labels will give can be expected from the scores alone. Over ``n`` scores, with
``K(i, j)`` 1 when ``s_i > s_j`` and 1/2 on ties, the Mann-Whitney numerator
``sum_{i != j} y_i (1 - y_j) K(i, j)`` has expectation ``sum_{i != j} p_i (1 - p_j) K(i, j)``
(independent labels), and the pairs ``n_pos n_neg = sum_{i != j} y_i (1 - y_j)`` have
``sum p sum (1 - p) - sum p (1 - p)``: their ratio is the estimate (:func:`expected_auc`,
O(n log n) with cumulative sums over the sorted scores).

It assumes P(y | x) is what the model learned: under covariate shift the estimate
follows the AUC; under concept drift it does not, which is what the divergence alert
watches (estimate against the realised rolling AUC of the same version, beyond
``divergence`` and beyond the realised AUC's own noise). The calibration check
(:func:`calibration`) compares scores with the labels that arrive.

>>> round(expected_auc(np.array([0.1, 0.9])), 3)  # P(ordered right) .81, wrong .01
0.988
>>> c = calibration(np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.1, 0.9, 0.2, 0.8]))
>>> round(c.error, 3), c.mean_score, c.observed_rate
(0.15, 0.5, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.config import Settings
from streams.contract.records import Origin
from streams.model.features import Matrix
from streams.monitoring.alerts import DriftAlert, Position, first_positions

SIGNAL = "estimate_divergence"
DETECTOR = "CBPE"
STATISTIC = "estimated_minus_realised_auc"
BINS = 10  # calibration: equal-width score bins, as the usual expected calibration error
Z = 4.0  # a gap must also pass this many standard errors of the realised AUC: its noise


def expected_auc(p: Matrix) -> float:
    """ROC AUC expected of labels drawn as Bernoulli(``p``) for scores ``p`` (NaN when
    no pair can be positive-negative).

    >>> expected_auc(np.array([0.0, 1.0])), expected_auc(np.array([0.5, 0.5]))
    (1.0, 0.5)
    """
    s = np.sort(np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0))
    if len(s) < 2:
        return float("nan")
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores
    counts = np.diff(np.r_[starts, len(s)])
    pos = np.add.reduceat(s, starts)  # expected positives per group
    neg = counts - pos
    below = np.cumsum(neg) - neg  # expected negatives scored strictly lower
    own = float(np.dot(s, 1.0 - s))  # i == j: a score is not paired with itself
    pairs = float(pos.sum()) * float(neg.sum()) - own
    if pairs <= 0.0:
        return float("nan")
    return (float(np.dot(pos, below)) + 0.5 * (float(np.dot(pos, neg)) - own)) / pairs


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """The standard error of an AUC measured on this many labels (Hanley and McNeil, 1982).

    >>> round(auc_standard_error(0.87, 60, 940), 3)
    0.03
    """
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    return math.sqrt(max(var, 0.0) / (positives * negatives))


@dataclass(frozen=True)
class Calibration:
    """Scores against their labels: expected calibration error over ``BINS`` equal-width
    bins (the bins' share-weighted ``|mean score - observed rate|``), and both means."""

    error: float
    mean_score: float
    observed_rate: float
    labels: int


def calibration(y: Matrix, p: Matrix, bins: int = BINS) -> Calibration:
    """How far the scores ``p`` are from being probabilities of the labels ``y``."""
    n = len(p)
    if n == 0:
        return Calibration(float("nan"), float("nan"), float("nan"), 0)
    idx = np.minimum((np.clip(p, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    gap = np.bincount(idx, weights=p, minlength=bins) - np.bincount(idx, weights=y, minlength=bins)
    return Calibration(float(np.abs(gap).sum()) / n, float(p.mean()), float(y.mean()), n)


@dataclass(frozen=True)
class EstimateConfig:
    """Scores estimated on, how often, and when estimate and realised AUC diverge."""

    window: int = 2_000  # last scores per version the estimate is on
    step: int = 250  # the estimate (and the label check) is recomputed every this many
    divergence: float = 0.05  # |estimated - realised AUC| above this: an alert
    labels: int = 2_000  # labels in the realised window: checked once this many arrived
    cooldown: int = 5_000  # labels between two alerts of a version

    @classmethod
    def from_settings(cls, settings: Settings) -> EstimateConfig:
        """The estimator's part of the settings (the realised window is quality's)."""
        s = settings
        return cls(
            s.estimate_window,
            s.estimate_step,
            s.estimate_divergence,
            s.quality_window,
            s.quality_cooldown,
        )


class _Ring:
    """The last ``size`` rows written, in a numpy array (their order is not kept)."""

    def __init__(self, size: int, columns: int) -> None:
        self.buf = np.zeros((size, columns), dtype=np.float64)
        self.written = 0

    def extend(self, rows: Matrix) -> None:
        size, k = len(self.buf), len(rows)
        rows = rows[-size:]
        at = (self.written + k - len(rows)) % size
        head = min(len(rows), size - at)
        self.buf[at : at + head] = rows[:head]
        self.buf[: len(rows) - head] = rows[head:]
        self.written += k

    def put(self, row: tuple[float, ...]) -> None:
        self.buf[self.written % len(self.buf)] = row
        self.written += 1

    def rows(self) -> Matrix:
        return self.buf[: min(self.written, len(self.buf))]

    @property
    def oldest(self) -> int:
        """The index of the oldest row held."""
        return self.written % len(self.buf) if self.written >= len(self.buf) else 0


@dataclass
class _Version:
    scores: _Ring
    labelled: _Ring  # score, label, label time
    origins: list[Origin | None]  # of the labelled rows, same slots
    pending: int = 0  # scores since the estimate
    estimate: float = float("nan")
    calibration: Calibration | None = None
    quiet_until: int = 0


Realised = Callable[[str], float]
"""A version's realised rolling AUC (the joiner's: :class:`OnlineQuality`'s)."""


class PerformanceEstimator:
    """Per model version: the CBPE estimate of its AUC over its last scores, the calibration
    of its scores on the labels that arrive, and a divergence alert, at most one per
    ``cooldown`` labels. Scores and labels may come from any source (``scores``,
    ``scores.shadow``) as (version, score) observations.

    >>> est = PerformanceEstimator(EstimateConfig(window=100, step=10), lambda v: 0.5)
    >>> est.observe("v1", np.linspace(0.0, 1.0, 50))
    >>> round(est.snapshot()["v1"]["estimated_auc"], 3)
    0.844
    """

    def __init__(self, config: EstimateConfig, realised: Realised) -> None:
        self.config = config
        self.realised = realised
        self.alerts = 0
        self._by_version: dict[str, _Version] = {}

    def _get(self, version: str) -> _Version:
        v = self._by_version.get(version)
        if v is None:
            c = self.config
            v = _Version(_Ring(c.window, 1), _Ring(c.labels, 3), [None] * c.labels)
            self._by_version[version] = v
        return v

    def observe(self, version: str, scores: npt.ArrayLike) -> None:
        """Scores of ``version``, in order; the estimate is recomputed every ``step``."""
        values = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
        v = self._get(version)
        v.scores.extend(values)
        v.pending += len(values)
        if v.pending >= self.config.step:
            v.pending = 0
            v.estimate = expected_auc(v.scores.rows()[:, 0])

    def observe_pairs(self, pairs: Iterable[tuple[str, float]]) -> None:
        """(version, score) observations of a batch, in order, grouped per version."""
        by_version: dict[str, list[float]] = {}
        for version, score in pairs:
            by_version.setdefault(version, []).append(score)
        for version, scores in by_version.items():
            self.observe(version, scores)

    def label(
        self, version: str, label: int, score: float, time_ms: int, origin: Origin | None
    ) -> dict[str, Any] | None:
        """A first label of ``version``'s ``score``: the calibration window, and every
        ``step`` labels the check; the divergence alert's record when it fires."""
        v = self._get(version)
        slot = v.labelled.written % len(v.origins)
        v.labelled.put((score, label, time_ms))
        v.origins[slot] = origin
        if v.labelled.written % self.config.step:
            return None
        rows = v.labelled.rows()
        v.calibration = calibration(rows[:, 1], rows[:, 0])
        if v.labelled.written < self.config.labels or v.labelled.written < v.quiet_until:
            return None
        return self._check(version, v, time_ms, origin)

    def _check(
        self, version: str, v: _Version, time_ms: int, origin: Origin | None
    ) -> dict[str, Any] | None:
        positives = int(v.labelled.rows()[:, 1].sum())
        negatives = len(v.origins) - positives
        if math.isnan(v.estimate) or not positives or not negatives:
            return None  # no estimate yet, or the realised AUC is undefined
        realised = self.realised(version)
        gap = v.estimate - realised
        noise = Z * auc_standard_error(realised, positives, negatives)
        threshold = max(self.config.divergence, noise)
        if abs(gap) <= threshold:
            return None
        v.quiet_until = v.labelled.written + self.config.cooldown
        self.alerts += 1
        start = v.labelled.oldest
        order = v.origins[start:] + v.origins[:start]
        return DriftAlert(
            SIGNAL,
            None,
            DETECTOR,
            gap,
            STATISTIC,
            threshold,
            len(v.origins),
            version,
            int(v.labelled.buf[start, 2]),
            first_positions(order),
            Position.of(origin),
            time_ms,
            v.labelled.written,
        ).record()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per version: the estimated AUC and, once ``step`` labels arrived, the calibration
        error, mean score and observed rate of the labelled window."""
        out = {}
        for version, v in self._by_version.items():
            values = {"estimated_auc": v.estimate}
            if v.calibration is not None:
                c = v.calibration
                values |= {
                    "calibration_error": c.error,
                    "mean_score": c.mean_score,
                    "observed_rate": c.observed_rate,
                }
            out[version] = values
        return out
