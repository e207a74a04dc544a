"""The promotion gate's evidence: does a challenger beat the champion on the same labels?

A paired, stratified bootstrap over the labelled events both versions scored: each
resample draws positives from the positives and negatives from the negatives (with
replacement, so every resample has both classes), and both models are judged on the
same drawn events. The gate passes when there are at least ``min_labels`` events,
both classes, and the lower end of the percentile interval of
AUC(challenger) - AUC(champion) exceeds ``margin``.

Each model is ranked once; a resample is a vector of event multiplicities, and its
AUC is Mann-Whitney's over the tie groups of those ranks (``np.bincount`` weights),
equal to :func:`~streams.model.metrics.roc_auc` on the resampled arrays.

>>> y = np.array([0, 0, 1, 1] * 50)
>>> champion, challenger = np.tile([.3, .5, .4, .6], 50), y * 0.6 + 0.2
>>> ev = gate_evidence(y, champion, challenger, min_labels=100, margin=0.0,
...                    confidence=0.95, resamples=200)
>>> ev.passed, ev.auc_champion, ev.auc_challenger
(True, 0.75, 1.0)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.model.features import Matrix
from streams.model.metrics import roc_auc

_CHUNK = 64  # resamples drawn at once: bounded memory at any event count


@dataclass(frozen=True)
class GateEvidence:
    """What the gate saw and decided (recorded in ``models/HISTORY.jsonl``)."""

    n: int
    positives: int
    auc_champion: float
    auc_challenger: float
    diff: float
    ci_low: float
    ci_high: float
    confidence: float
    resamples: int
    margin: float
    passed: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN (not computed) becomes None."""
        return {
            k: None if isinstance(v, float) and math.isnan(v) else v
            for k, v in asdict(self).items()
        }

    def render(self) -> str:
        """One line for people."""
        return (
            f"gate {'passed' if self.passed else 'failed'}: {self.reason} "
            f"(n={self.n}, positives={self.positives}, AUC champion {self.auc_champion:.4f}, "
            f"challenger {self.auc_challenger:.4f}, diff {self.diff:+.4f}, "
            f"{self.confidence:.0%} CI [{self.ci_low:+.4f}, {self.ci_high:+.4f}], "
            f"margin {self.margin})"
        )


class _Ranked:
    """One model's scores as tie groups in score order, for AUCs of weighted resamples."""

    def __init__(self, scores: Matrix) -> None:
        _, self.group = np.unique(scores, return_inverse=True)
        self.groups = int(self.group.max()) + 1 if len(scores) else 0

    def auc(self, pos_w: Matrix, neg_w: Matrix) -> Matrix:
        """AUC per row of event weights (positives' and negatives' multiplicities)."""
        rows = pos_w.shape[0]
        offsets = (np.arange(rows) * self.groups)[:, None]
        flat = (self.group[None, :] + offsets).ravel()
        size = rows * self.groups
        wp = np.bincount(flat, weights=pos_w.ravel(), minlength=size).reshape(rows, -1)
        wn = np.bincount(flat, weights=neg_w.ravel(), minlength=size).reshape(rows, -1)
        below = np.cumsum(wn, axis=1) - wn  # negatives scored lower than the group
        wins = (wp * (below + 0.5 * wn)).sum(axis=1)
        out: Matrix = wins / (wp.sum(axis=1) * wn.sum(axis=1))
        return out


def _multiplicities(
    rng: np.random.Generator, members: npt.NDArray[np.intp], n: int, rows: int
) -> Matrix:
    """Per row, how often each of ``n`` events is drawn when ``len(members)`` draws are
    made from ``members`` with replacement."""
    draws = members[rng.integers(0, len(members), size=(rows, len(members)))]
    flat = (draws + (np.arange(rows) * n)[:, None]).ravel()
    out: Matrix = np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)
    return out


def bootstrap_diffs(
    labels: Matrix, champion: Matrix, challenger: Matrix, resamples: int, seed: int = 0
) -> Matrix:
    """AUC(challenger) - AUC(champion) on each of ``resamples`` paired, stratified resamples."""
    n = len(labels)
    pos = np.flatnonzero(labels == 1)
    neg = np.flatnonzero(labels != 1)
    champ, chall = _Ranked(champion), _Ranked(challenger)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        pos_w = _multiplicities(rng, pos, n, rows)
        neg_w = _multiplicities(rng, neg, n, rows)
        out[start : start + rows] = chall.auc(pos_w, neg_w) - champ.auc(pos_w, neg_w)
    return out


def gate_evidence(
    labels: Matrix,
    champion_scores: Matrix,
    challenger_scores: Matrix,
    *,
    min_labels: int,
    margin: float,
    confidence: float,
    resamples: int,
    seed: int = 0,
) -> GateEvidence:
    """The gate's verdict on paired arrays (one entry per labelled event both scored)."""
    y = np.asarray(labels, dtype=np.float64)
    a = np.asarray(champion_scores, dtype=np.float64)
    b = np.asarray(challenger_scores, dtype=np.float64)
    if not len(y) == len(a) == len(b):
        raise ValueError(f"paired arrays differ in length: {len(y)}, {len(a)}, {len(b)}")
    n, positives = len(y), int((y == 1).sum())
    both = 0 < positives < n
    auc_a, auc_b = (roc_auc(y, a), roc_auc(y, b)) if both else (_NAN, _NAN)
    ci_low = ci_high = _NAN
    if n < min_labels:
        reason = f"too few labels both versions scored: {n} < {min_labels}"
    elif not both:
        reason = f"the {n} labels are all of one class"
    else:
        ci_low, ci_high = _interval(bootstrap_diffs(y, a, b, resamples, seed), confidence)
        above = "> margin" if ci_low > margin else "is not above margin"
        reason = f"lower bound {ci_low:+.4f} {above} {margin}"
    passed = n >= min_labels and both and ci_low > margin
    verdict = (ci_low, ci_high, confidence, resamples, margin, passed, reason)
    return GateEvidence(n, positives, auc_a, auc_b, auc_b - auc_a, *verdict)


_NAN = float("nan")


def _interval(diffs: Matrix, confidence: float) -> tuple[float, float]:
    """The percentile interval of ``diffs`` at ``confidence``."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return float(low), float(high)
