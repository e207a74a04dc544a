"""The drift monitor's reference as one flat array of slots, and per-chunk aggregates.

Every signal (each feature, then the score) owns a run of slots: its reference bins
(quantile bins of a numeric feature, levels of a categorical one), then one slot for
values the model never saw and one for missing values; three slots for the decisions
close the layout. A batch of rows becomes one slot per (row, signal), and the counts
of whole ``step``-event chunks come out of one ``bincount``: the cost is a few numpy
calls per batch, whatever the number of signals or chunks in it.

Numeric features also get a continuous rank for the mean-shift signal: the
reference CDF, linear inside each interior bin (through the manifest's quantile edges
and shares), the middle of the bin in the two open-ended ones. Under the reference
its mean is 0.5, and a drift *within* bins moves it, which bin counts cannot see.

>>> manifest = {"reference": {"features": {f.name: ({"missing_rate": 0.0,
...     "categories": {"a": 0.5, "b": 0.5}} if f.kind == "categorical" else
...     {"missing_rate": 0.0, "bins": {"edges": [1.0, 2.0], "freqs": [0.25, 0.5, 0.25]}})
...     for f in FEATURES}, "score": {"edges": [0.5], "freqs": [0.5, 0.5]}}}
>>> layout = Layout(manifest, exclude=("hour_of_day",))
>>> X = np.full((2, len(FEATURES)), 1.5)
>>> X[:, [FEATURES.index(f) for f in FEATURES if f.kind == "categorical"]] = 1.0
>>> stats = layout.chunks(X, np.array([0.1, 0.9]), np.array([0, 2]), step=2)
>>> stats.counts.shape, int(stats.counts[0, layout.decision_slots].sum())
((1, 78), 2)
>>> float(stats.rank_sum[0, 0] / 2)  # 1.5 is half-way up the middle bin: 0.25 + 0.25
0.5
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.contract.decisions import DECISIONS
from streams.model.features import FEATURES, Matrix

Ints = npt.NDArray[np.int64]
Slots = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ChunkStats:
    """Aggregates of ``k`` consecutive chunks of ``step`` rows each."""

    counts: Ints  # (k, slots): rows per slot
    rank_sum: Matrix  # (k, ranked): sum of the continuous ranks of present values
    rank_sq_sum: Matrix  # (k, ranked): sum of their squares


class Layout:
    """Slots of every signal, the reference shares over them, and the rank transform."""

    def __init__(self, manifest: dict[str, Any], exclude: tuple[str, ...]) -> None:
        shares, edges = _reference_bins(manifest["reference"])
        self.names = [f.name for f in FEATURES] + ["score"]
        self.categorical = np.array([f.kind == "categorical" for f in FEATURES] + [False])
        self.ref_missing = np.array(
            [manifest["reference"]["features"][f.name]["missing_rate"] for f in FEATURES] + [0.0]
        )
        n_bins = np.array([len(s) for s in shares])
        self.starts = np.concatenate([[0], np.cumsum(n_bins + 2)[:-1]]).astype(np.int64)
        self.unseen_slots = self.starts + n_bins
        self.missing_slots = self.unseen_slots + 1
        bins_end = int(self.missing_slots[-1]) + 1
        self.decision_slots = np.arange(bins_end, bins_end + len(DECISIONS))
        self.size = bins_end + len(DECISIONS)
        self.slot_signal = np.repeat(np.arange(len(shares)), n_bins + 2)
        reference = np.zeros(bins_end)
        for start, s in zip(self.starts, shares, strict=True):
            reference[start : start + len(s)] = s / s.sum() if s.sum() > 0 else s
        self._q = np.clip(reference, _EPS, None)  # PSI/KL: an empty bin counts as _EPS
        self._log_q = np.log(self._q)
        self.is_bin = np.ones(bins_end, dtype=bool)
        self.is_bin[self.unseen_slots], self.is_bin[self.missing_slots] = False, False
        self._cat = np.flatnonzero(self.categorical)
        self._n_bins_cat = n_bins[self._cat][:, None]
        self._starts32 = self.starts[:, None].astype(np.int32)
        self._missing32 = self.missing_slots[:-1, None].astype(np.int32)
        self._edge_matrix(edges)
        self.ranked = np.array(
            [j for j, f in enumerate(FEATURES) if f.kind == "numeric" and f.name not in exclude]
        )
        self._rank_transform(edges, shares)

    def _edge_matrix(self, edges: list[Matrix | None]) -> None:
        """The numeric signals' edges as one matrix, a row each, padded with +inf."""
        numeric = [j for j, e in enumerate(edges) if e is not None]
        self._numeric_rows = np.array(numeric)
        self._numeric = self._numeric_rows[:-1]  # the score is not a column of X
        width = max(1, *(len(e) for e in edges if e is not None))
        self._edges = np.full((len(numeric), width), np.inf)  # padded: never below a value
        for row, j in enumerate(numeric):
            e = edges[j]
            assert e is not None
            self._edges[row, : len(e)] = e

    def _rank_transform(self, edges: list[Matrix | None], shares: list[Matrix]) -> None:
        """Per slot: rank = intercept + slope * value, the reference CDF (see above)."""
        self._intercept, self._slope = np.zeros(self.size), np.zeros(self.size)
        for j in self.ranked.tolist():
            e, f, start = edges[j], shares[j] / shares[j].sum(), int(self.starts[j])
            assert e is not None  # ranked signals are numeric
            cdf = np.concatenate([[0.0], np.cumsum(f)])
            self._intercept[start : start + len(f)] = cdf[:-1] + f / 2  # open-ended: the middle
            inner = np.arange(1, len(f) - 1)  # bin i is (e[i-1], e[i]]
            slope = f[inner] / (e[inner] - e[inner - 1])
            self._slope[start + inner] = slope
            self._intercept[start + inner] = cdf[inner] - slope * e[inner - 1]

    def slots(self, XT: Matrix, scores: Matrix, missing: Bools, decisions: Ints) -> Slots:
        """The slot of every (signal, row), then of every row's decision: ``(signals + 1, n)``.

        ``XT`` is the feature matrix transposed, ``missing`` its NaN mask.
        """
        n_sig = len(self.names)
        values = np.concatenate([XT[self._numeric], scores[None, :]])
        # side="left" by comparisons, one edge at a time over every column: with ten edges
        # at most, 6x faster than a searchsorted per column on large batches
        below = (values > self._edges[:, :1]).view(np.int8)
        for i in range(1, self._edges.shape[1]):
            below += (values > self._edges[:, i : i + 1]).view(np.int8)
        local = np.empty((n_sig + 1, XT.shape[1]), dtype=np.int32)  # int32: half the memory
        local[self._numeric_rows] = below
        # NaN to 0 (fmax), past the levels to the unseen slot (fmin); NaN is set apart below
        local[self._cat] = np.fmin(np.fmax(XT[self._cat], 0.0), self._n_bins_cat)
        local[:n_sig] += self._starts32
        np.copyto(local[: n_sig - 1], self._missing32, where=missing)
        local[n_sig] = self.decision_slots[decisions]
        return local

    def chunks(self, X: Matrix, scores: Matrix, decisions: Ints, step: int) -> ChunkStats:
        """Aggregates of the ``len(X) // step`` chunks of the rows (a multiple of ``step``)."""
        XT = np.ascontiguousarray(X.T)
        missing = np.isnan(XT)
        slots = self.slots(XT, scores, missing, decisions)
        k = X.shape[0] // step
        ranked = slots[self.ranked]
        slots += np.repeat(np.arange(k, dtype=np.int32) * self.size, step)  # chunk by chunk
        counts = np.bincount(slots.ravel(), minlength=k * self.size)
        values = np.where(missing[self.ranked], 0.0, XT[self.ranked])
        ranks = (self._intercept[ranked] + self._slope[ranked] * values).reshape(-1, k, step)
        return ChunkStats(
            counts.reshape(k, self.size),
            ranks.sum(axis=2).T,
            np.einsum("rks,rks->kr", ranks, ranks),
        )

    def window_measures(self, windows: Ints, events: int) -> dict[str, Matrix]:
        """Per window (row) and signal (column): PSI, KL, missing and unseen rates, values
        present, and per window the decision shares, from windows' slot counts."""
        unseen, missing = windows[:, self.unseen_slots], windows[:, self.missing_slots]
        present = events - unseen - missing
        per_slot = 1.0 / np.maximum(present, 1)[:, self.slot_signal]
        p = np.where(self.is_bin, windows[:, : len(self.is_bin)] * per_slot, _EPS)
        p = np.maximum(p, _EPS)
        ratio = np.log(p) - self._log_q
        return {
            "psi": np.add.reduceat((p - self._q) * ratio, self.starts, axis=1),
            "kl": np.add.reduceat(p * ratio, self.starts, axis=1),
            "missing_rate": missing / events,
            "unseen_rate": unseen / np.maximum(present + unseen, 1),
            "present": present,
            "decision_share": windows[:, self.decision_slots] / events,
        }


_EPS = 1e-4


def _reference_bins(ref: dict[str, Any]) -> tuple[list[Matrix], list[Matrix | None]]:
    """Per signal (features, then the score): reference shares, and bin edges (None for a
    categorical feature, whose codes are its bins)."""
    shares: list[Matrix] = []
    edges: list[Matrix | None] = []
    for f in FEATURES:
        entry = ref["features"][f.name]
        if f.kind == "categorical":
            shares.append(np.array(list(entry["categories"].values()), dtype=np.float64))
            edges.append(None)
        else:
            shares.append(np.array(entry["bins"]["freqs"], dtype=np.float64))
            edges.append(np.array(entry["bins"]["edges"], dtype=np.float64))
    shares.append(np.array(ref["score"]["freqs"], dtype=np.float64))
    edges.append(np.array(ref["score"]["edges"], dtype=np.float64))
    return shares, edges
