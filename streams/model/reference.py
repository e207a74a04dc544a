"""Reference statistics of training data: the baseline drift is measured against.

Numeric features get a histogram over (up to) decile cut points; categorical ones
their level frequencies; both their missing rate. Pure numpy, no I/O.

>>> b = histogram_bins(np.arange(100, dtype=float), bins=4)
>>> b["edges"], b["freqs"]
([24.75, 49.5, 74.25], [0.25, 0.25, 0.25, 0.25])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from streams.model.features import EVENT_SET, FeatureSet, Matrix

DEFAULT_BINS = 10


def histogram_bins(values: Matrix, bins: int = DEFAULT_BINS) -> dict[str, list[float]]:
    """Quantile cut points of the non-missing ``values`` and the share in each bin.

    Bins are ``(-inf, e0], (e0, e1], ..., (e_last, +inf)``; repeated cut points
    (integer features) are merged, so ``len(freqs) == len(edges) + 1``.
    """
    present = values[~np.isnan(values)]
    if present.size == 0:
        return {"edges": [], "freqs": [1.0]}
    qs = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(qs)
    return {"edges": [round(float(e), 6) for e in edges], "freqs": bin_shares(present, edges)}


def bin_shares(values: Matrix, edges: Sequence[float] | Matrix) -> list[float]:
    """Share of ``values`` in each bin defined by ``edges`` (see :func:`histogram_bins`)."""
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    total = max(int(counts.sum()), 1)
    return [round(float(c) / total, 6) for c in counts]


def feature_reference(
    X: Matrix, levels: dict[str, list[str]], features: FeatureSet = EVENT_SET
) -> dict[str, dict[str, Any]]:
    """Per-feature reference statistics of an assembled training matrix."""
    out: dict[str, dict[str, Any]] = {}
    n = max(X.shape[0], 1)
    for j, feat in enumerate(features.features):
        col = X[:, j]
        missing = np.isnan(col)
        entry: dict[str, Any] = {"missing_rate": round(float(missing.sum()) / n, 6)}
        if feat.kind == "categorical":
            codes = col[~missing].astype(np.int64)
            counts = np.bincount(codes, minlength=len(levels[feat.name]))
            entry["categories"] = {
                lv: round(float(counts[i]) / n, 6) for i, lv in enumerate(levels[feat.name])
            }
        else:
            entry["bins"] = histogram_bins(col)
        out[feat.name] = entry
    return out
