"""Quality of scores against labels: ROC AUC and log loss, pure numpy.

One definition for training, retraining and the promotion gate.
"""

from __future__ import annotations

import numpy as np

from streams.model.features import Matrix

_EPS = 1e-15


def roc_auc(y: Matrix, p: Matrix) -> float:
    """ROC AUC by the rank formula (ties get average ranks).

    >>> roc_auc(np.array([0., 0., 1., 1.]), np.array([.1, .4, .35, .8]))
    0.75
    """
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sorted_p = p[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(y: Matrix, p: Matrix) -> float:
    """Mean binary cross-entropy."""
    q = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
