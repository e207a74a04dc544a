"""Data-drift monitoring in the scorer: per-chunk aggregates, bounded cost, one alert per shift.

(Over 300 lines on purpose: cutting the stream into chunks, the window and its checks
share the monitor's state; the per-batch arithmetic is in :mod:`.drift_chunks`.)

Fed once per micro-batch with the assembled feature matrix, the scores, and each
valid event's origin and event time, against the model manifest's reference
statistics. The stream is cut into chunks of ``step`` events, whatever the batches
(a batch is split at chunk boundaries; a chunk may span batches), and the window is
the last ``window`` events: the same stream raises the same alerts at the same
events whether it comes in batches of 1 or of 5,000. Signals:

``distribution`` (PSI, with KL reported)
    per feature and for the score, over the window, checked every ``step`` events:
    numeric features over the manifest's quantile bins, categorical ones over their
    known levels. Alert when PSI > ``psi_threshold``, if at least ``step`` of the
    window's values are present (fewer are too few for a distance: a feature going
    missing is ``missing_rate``'s business).
``mean_shift`` (River Page-Hinkley)
    per numeric feature (not the score: it follows the time of day), on each chunk's
    mean continuous rank against the reference (0.5 under it; see
    :mod:`streams.monitoring.drift_chunks`), in standard errors of a chunk mean
    (:class:`~streams.monitoring.detectors.ChunkMeanShift`): a sustained shift too small for
    the windowed PSI, or one within bins, accumulates until it crosses
    ``mean_shift_threshold``. One detector update per chunk and feature.
``missing_rate``
    window missing rate above the reference rate by more than ``missing_delta``: a
    feature that silently disappears upstream.
``unseen_rate``
    share of category values the model never saw, above ``unseen_threshold``.

The decision mix (share of approve/review/decline per window) is exported as
gauges; shifts in it show up as score drift. ``hour_of_day`` is excluded from the
distribution and mean-shift signals: it follows the clock, not the data.

Window alerts are edge-triggered per (signal, feature), and every alert is followed
by ``cooldown`` quiet events for its (signal, feature): one shift, one alert.

>>> import streams
>>> from pathlib import Path
>>> from streams.model.artifact import load_model
>>> model = load_model(Path(streams.__file__).parent.parent / "models")
>>> events = [{"event_time": 1_767_225_600_000 + i, "amount": 10.0, "currency": "EUR",
...            "channel": "pos"} for i in range(1_000)]
>>> first = scan(model, events)[0]  # most features are missing from these events
>>> first["signal"], first["events_seen"], first["window"], first["trigger"]["offset"]
('missing_rate', 1000, 1000, 999)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from streams.config import Settings
from streams.contract.decisions import DECISIONS, decision_index
from streams.contract.records import Origin
from streams.model.artifact import Model
from streams.model.features import FEATURES, Matrix
from streams.monitoring.alerts import DriftAlert, Position, first_positions
from streams.monitoring.detectors import ChunkMeanShift
from streams.monitoring.drift_chunks import Bools, ChunkStats, Ints, Layout


@dataclass(frozen=True)
class DriftConfig:
    """Window, step, thresholds and cool-down of the drift monitor (from :class:`Settings`)."""

    window: int
    step: int
    psi_threshold: float
    missing_delta: float
    unseen_threshold: float
    mean_shift_delta: float
    mean_shift_threshold: float
    cooldown: int
    review_threshold: float
    decline_threshold: float
    exclude: tuple[str, ...] = ("hour_of_day",)  # follows the clock, not the data

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftConfig:
        """The monitor's part of the settings."""
        s = settings
        return cls(
            s.drift_window,
            s.drift_step,
            s.drift_psi_threshold,
            s.drift_missing_delta,
            s.drift_unseen_threshold,
            s.drift_mean_shift_delta,
            s.drift_mean_shift_threshold,
            s.drift_cooldown,
            s.review_threshold,
            s.decline_threshold,
        )


@dataclass(frozen=True)
class _Chunk:
    """What the window keeps of a closed chunk to place an alert."""

    origins: list[Origin]
    first_time: int
    last_time: int


_Batch = tuple[Matrix, Matrix, list[Origin], list[int]]


class _Checks(NamedTuple):
    """The window checks of the chunks closed by one flush (rows: their full windows)."""

    over: dict[str, Bools]  # signal -> (windows, signals): over the threshold there
    statistic: dict[str, Matrix]  # signal -> (windows, signals): the value to report
    threshold: dict[str, float]
    any_over: list[bool]  # per window: any signal over


class DriftMonitor:
    """Cuts the stream into chunks, keeps the window's counts, and checks the signals."""

    def __init__(self, manifest: dict[str, Any], config: DriftConfig) -> None:
        self.config = config
        self.version = str(manifest["model_version"])
        self.layout = Layout(manifest, config.exclude)
        self.seen = 0  # events in closed chunks
        self.chunks_closed = 0
        self._keep = config.window // config.step
        self._pending: list[_Batch] = []  # rows of the open chunk (a chunk's worth at most)
        self._pending_rows = 0
        self._chunks: deque[_Chunk] = deque(maxlen=self._keep)
        self._recent = np.zeros((0, self.layout.size), dtype=np.int64)  # the window's counts
        self._measures: dict[str, Matrix] = {}  # of the last full window
        ms_delta, ms_threshold = config.mean_shift_delta, config.mean_shift_threshold
        # centre 0.5: the mean rank under the reference
        self._mean_shift = ChunkMeanShift(
            len(self.layout.ranked), ms_delta, ms_threshold, size=config.step, centre=0.5
        )
        n = len(self.layout.names)
        self._active = {s: np.zeros(n, dtype=bool) for s in _WINDOW_SIGNALS}
        self._quiet = {s: np.zeros(n, dtype=np.int64) for s in (*_WINDOW_SIGNALS, "mean_shift")}
        excluded = np.isin(self.layout.names, config.exclude)
        self._applies = {
            "missing_rate": np.ones(n, dtype=bool),
            "distribution": ~excluded,
            "unseen_rate": self.layout.categorical,
        }

    def observe(
        self, X: Matrix, scores: Matrix, origins: list[Origin], event_times: list[int]
    ) -> list[DriftAlert]:
        """Add one batch (its valid events' features, scores, origins and event times);
        the alerts of the chunks it closes.

        Rows wait until a chunk's worth has come, then every whole chunk is binned in
        one go: binning has a fixed cost per call, which small batches would pay often.
        """
        if X.shape[0] == 0:
            return []
        # the event's own features are watched; computed ones (velocity) come after them
        self._pending.append((X[:, : len(FEATURES)], scores, origins, event_times))
        self._pending_rows += X.shape[0]
        if self._pending_rows < self.config.step:
            return []
        return self._flush()

    def _flush(self) -> list[DriftAlert]:
        """Bin and close every whole chunk of the pending rows; keep the rest pending."""
        if len(self._pending) == 1:
            X, scores, origins, times = self._pending[0]
        else:
            X = np.concatenate([b[0] for b in self._pending])
            scores = np.concatenate([b[1] for b in self._pending])
            origins = [o for b in self._pending for o in b[2]]
            times = [t for b in self._pending for t in b[3]]
        cfg, step = self.config, self.config.step
        cut = X.shape[0] // step * step
        self._pending_rows = X.shape[0] - cut
        rest = (X[cut:], scores[cut:], origins[cut:], times[cut:])
        self._pending = [rest] if self._pending_rows else []
        decisions = decision_index(scores[:cut], cfg.review_threshold, cfg.decline_threshold)
        stats = self.layout.chunks(X[:cut], scores[:cut], decisions, step)
        checks = self._window_values(stats.counts)
        alerts = []
        for i in range(cut // step):
            lo, hi = i * step, (i + 1) * step
            self._chunks.append(_Chunk(origins[lo:hi], times[lo], times[hi - 1]))
            self.seen += step
            self.chunks_closed += 1
            alerts += self._mean_shift_checks(stats, i)
            row = i - (cut // step - len(checks.any_over))  # rows: the full windows only
            if row >= 0:
                alerts += self._window_checks(checks, row)
        return alerts

    def _window_values(self, counts: Ints) -> _Checks:
        """What the window checks of the new chunks need, for all of them at once: the
        measures of each full window and which (window, signal) is over its threshold."""
        cfg, layout, keep = self.config, self.layout, self._keep
        both = np.concatenate([self._recent, counts])
        self._recent = both[-keep:]
        sums = np.concatenate([np.zeros((1, layout.size), dtype=np.int64), np.cumsum(both, 0)])
        # window ending with chunk g (0-based in both) = sums[g + 1] - sums[g + 1 - keep]
        ends = np.arange(max(keep, len(both) - len(counts) + 1), len(both) + 1)
        if len(ends) == 0:
            return _Checks({}, {}, {}, [])
        m = layout.window_measures(sums[ends] - sums[ends - keep], cfg.window)
        self._measures = {name: v[-1] for name, v in m.items()}
        value = {
            "missing_rate": m["missing_rate"] - layout.ref_missing,
            "unseen_rate": m["unseen_rate"],
            "distribution": np.where(m["present"] >= cfg.step, m["psi"], 0.0),
        }
        threshold = {
            "missing_rate": cfg.missing_delta,
            "unseen_rate": cfg.unseen_threshold,
            "distribution": cfg.psi_threshold,
        }
        over = {s: (value[s] > threshold[s]) & self._applies[s] for s in _WINDOW_SIGNALS}
        statistic = {
            "missing_rate": m["missing_rate"],
            "unseen_rate": m["unseen_rate"],
            "distribution": m["psi"],
        }
        any_over = np.any([o.any(axis=1) for o in over.values()], axis=0).tolist()
        return _Checks(over, statistic, threshold, any_over)

    def _mean_shift_checks(self, stats: ChunkStats, i: int) -> list[DriftAlert]:
        layout, quiet = self.layout, self._quiet["mean_shift"]
        present = self.config.step - stats.counts[i, layout.missing_slots[layout.ranked]]
        out = []
        for k in self._mean_shift.update(stats.rank_sum[i], stats.rank_sq_sum[i], present):
            j = int(layout.ranked[k])
            if self.seen >= quiet[j]:
                quiet[j] = self.seen + self.config.cooldown
                out.append(
                    self._alert(
                        "mean_shift",
                        j,
                        "PageHinkley",
                        self._mean_shift.statistics[k],
                        "page_hinkley",
                        self.config.mean_shift_threshold,
                    )
                )
        return out

    def _window_checks(self, checks: _Checks, row: int) -> list[DriftAlert]:
        """Alerts where a window signal crossed its threshold (edge, past the cool-down)."""
        out = []
        for signal in _WINDOW_SIGNALS:
            active, quiet = self._active[signal], self._quiet[signal]
            if not checks.any_over[row] and not active.any():
                continue  # nothing over, nothing to re-arm
            over = checks.over[signal][row]
            active &= over  # re-armed where it fell back: the next crossing is a new shift
            for j in np.flatnonzero(over & ~active & (quiet <= self.seen)).tolist():
                active[j], quiet[j] = True, self.seen + self.config.cooldown
                statistic = float(checks.statistic[signal][row, j])
                out.append(
                    self._alert(
                        signal, j, "window", statistic, _STATISTIC[signal], checks.threshold[signal]
                    )
                )
        return out

    def _alert(
        self,
        signal: str,
        j: int,
        detector: str,
        statistic: float,
        statistic_name: str,
        threshold: float,
    ) -> DriftAlert:
        """An alert at the chunk that just closed, its window the last ``window`` events."""
        name, chunks = self.layout.names[j], self._chunks
        return DriftAlert(
            signal,
            None if name == "score" else name,
            detector,
            statistic,
            statistic_name,
            threshold,
            len(chunks) * self.config.step,
            self.version,
            chunks[0].first_time,
            first_positions(o for c in chunks for o in c.origins),
            Position.of(chunks[-1].origins[-1]),
            chunks[-1].last_time,
            self.seen,
        )

    @property
    def values(self) -> dict[tuple[str, str], float]:
        """The last full window's measures, ``(measure, feature) -> value``, for gauges."""
        m, names = self._measures, self.layout.names
        if not m:
            return {}
        shares = zip(DECISIONS, m["decision_share"].tolist(), strict=True)
        out = {("decision_share", d): v for d, v in shares}
        for j, name in enumerate(names):
            out[("missing_rate", name)] = float(m["missing_rate"][j])
            if self._applies["unseen_rate"][j]:
                out[("unseen_rate", name)] = float(m["unseen_rate"][j])
            if self._applies["distribution"][j] and m["present"][j] >= self.config.step:
                out[("psi", name)], out[("kl", name)] = float(m["psi"][j]), float(m["kl"][j])
        return out


_WINDOW_SIGNALS = ("missing_rate", "unseen_rate", "distribution")
_STATISTIC = {"missing_rate": "missing_rate", "unseen_rate": "unseen_rate", "distribution": "psi"}


def scan(
    model: Model,
    events: list[dict[str, Any]],
    config: DriftConfig | None = None,
    batch: int = 500,
    partitions: int = 1,
) -> list[dict[str, Any]]:
    """Every alert record a fresh monitor raises on ``events`` (valid event dicts) fed in
    batches of ``batch``, as read round-robin from ``partitions`` partitions of
    ``events``: for evaluations and tests, no Kafka."""
    monitor = DriftMonitor(model.manifest, config or DriftConfig.from_settings(Settings()))
    X = model.assembler.assemble(events)
    scores = model.predict(X)  # row by row: the same scores whatever the batches
    origins = [Origin("events", i % partitions, i // partitions) for i in range(len(events))]
    times = [e["event_time"] for e in events]
    alerts = []
    for i in range(0, len(events), batch):
        part = slice(i, i + batch)
        alerts += monitor.observe(X[part], scores[part], origins[part], times[part])
    return [a.record() for a in alerts]


def drift_monitor(settings: Settings, model: Model | None) -> DriftMonitor | None:
    """The drift monitor for ``model`` (none without a model: no reference to compare to)."""
    if model is None or not settings.drift_enabled:
        return None
    return DriftMonitor(model.manifest, DriftConfig.from_settings(settings))
