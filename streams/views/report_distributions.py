"""Each feature's live distribution and the score's, against the model's reference.

The bins, the shares and the PSI are the drift monitor's own
(:class:`streams.monitoring.drift_chunks.Layout`): numeric features over the manifest's
quantile bins, categorical ones over their levels, the score over its reference bins;
the whole run is one window. Missing values and levels the model never saw are not in
the bars (their rates are given beside them), as the monitor leaves them out of PSI.

>>> bin_labels([1.0, 2.5])
['≤ 1', '(1, 2.5]', '> 2.5']
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.contract.decisions import DECISIONS
from streams.model.features import FEATURES
from streams.monitoring.drift_chunks import Layout


@dataclass(frozen=True)
class Distribution:
    """One signal's shares per bin, reference and live, and how far apart they are."""

    name: str
    bins: list[str]
    reference: list[float]
    live: list[float]  # [] when the run had no value of it
    psi: float  # NaN without live values
    present: int  # live values in the bins
    missing_rate: float  # live; NaN without rows
    reference_missing_rate: float
    unseen_rate: float  # live share of levels the model never saw


def _short(v: float) -> str:
    return f"{v:.4g}"


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    if not edges:
        return ["all"]
    inner = [f"({_short(a)}, {_short(b)}]" for a, b in itertools.pairwise(edges)]
    return [f"≤ {_short(edges[0])}", *inner, f"> {_short(edges[-1])}"]


def _reference(manifest: dict[str, Any], name: str) -> tuple[list[str], list[float], float]:
    """A signal's bin labels, reference shares and reference missing rate."""
    ref = manifest["reference"]
    if name == "score":
        return bin_labels(ref["score"]["edges"]), list(ref["score"]["freqs"]), 0.0
    entry = ref["features"][name]
    if "categories" in entry:
        cats: dict[str, float] = entry["categories"]
        shares = list(cats.values())
        total = sum(shares) or 1.0  # categories are shares of all rows, missing included
        return list(cats), [s / total for s in shares], float(entry["missing_rate"])
    bins = entry["bins"]
    return bin_labels(bins["edges"]), list(bins["freqs"]), float(entry["missing_rate"])


def distributions(
    manifest: dict[str, Any],
    rows: Sequence[Sequence[float]],
    scores: Sequence[float],
    decisions: Sequence[str],
) -> list[Distribution]:
    """Every event feature's distribution, then the score's, over ``rows`` (feature
    values in :data:`~streams.model.features.FEATURES` order, NaN for missing) and their
    ``scores`` and ``decisions``, against ``manifest``'s reference."""
    layout = Layout(manifest, exclude=())
    n = len(rows)
    measures: dict[str, np.ndarray] = {}
    counts = np.zeros(layout.size, dtype=np.int64)
    if n:
        X = np.asarray(rows, dtype=np.float64).reshape(n, len(FEATURES))
        codes = np.array([DECISIONS.index(d) for d in decisions], dtype=np.int64)
        stats = layout.chunks(X, np.asarray(scores, dtype=np.float64), codes, step=n)
        counts = stats.counts[0]
        measures = layout.window_measures(stats.counts, n)
    out = []
    for j, name in enumerate(layout.names):
        start, unseen = int(layout.starts[j]), int(layout.unseen_slots[j])
        labels, reference, ref_missing = _reference(manifest, name)
        present = int(measures["present"][0, j]) if measures else 0
        live = (counts[start:unseen] / present).tolist() if present else []
        out.append(
            Distribution(
                name,
                labels,
                reference,
                live,
                float(measures["psi"][0, j]) if present else math.nan,
                present,
                float(measures["missing_rate"][0, j]) if measures else math.nan,
                ref_missing,
                float(measures["unseen_rate"][0, j]) if measures else 0.0,
            )
        )
    return out
