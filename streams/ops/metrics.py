"""Every Prometheus metric streamscore exports, declared in one place.

The registry is passed in (tests use their own; processes use one they create at
start-up), so nothing is registered at import time.

>>> from prometheus_client import CollectorRegistry
>>> m = ScorerMetrics(CollectorRegistry())
>>> m.dead_lettered.labels(reason="malformed_json").inc()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


class BatchCounts(Protocol):
    """What a scored batch reports (:class:`streams.scoring.pipeline.BatchResult` has it)."""

    @property
    def scored(self) -> int: ...
    @property
    def fallback(self) -> int: ...
    @property
    def seconds(self) -> Mapping[str, float]: ...
    @property
    def dead_letters(self) -> Mapping[str, int]: ...
    @property
    def decisions(self) -> Mapping[str, int]: ...
    @property
    def decided_by(self) -> Mapping[str, int]: ...
    @property
    def shadow(self) -> Mapping[str, int]: ...


@dataclass(frozen=True)
class JoinerSnapshot:
    """The joiner's running totals, as :mod:`streams.feedback.app` reads them."""

    events: Mapping[str, int]  # join outcomes by kind
    unmatched: Mapping[str, int]  # by reason
    dead_lettered: Mapping[str, int]  # by reason
    misrouted: Mapping[str, int]  # by action
    concept_alerts: int
    state_entries: int
    quality: Mapping[str, Mapping[str, float]]  # model version -> metric -> value
    # model version -> estimated_auc, calibration_error (once labels arrived), ...
    estimate: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    estimate_alerts: int = 0
    # the same as ``quality``, on the events of velocity models' cold starts only
    cold_start_quality: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


_STAGE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class BatchHistogram(Collector):
    """A histogram observed a whole batch at a time, exported as prometheus-client's are.

    prometheus-client's Histogram takes one value per call; the scorer's end-to-end
    latency has one value per event, so it counts a batch's values with numpy.

    >>> h = BatchHistogram("x_seconds", "x", (0.1, 1.0), CollectorRegistry())
    >>> h.observe_many(np.array([0.05, 0.1, 0.5, 3.0]))
    >>> [(s.labels["le"], s.value) for s in next(h.collect()).samples[:3]]
    [('0.1', 2), ('1.0', 3), ('+Inf', 4)]
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self._name, self._doc = name, documentation
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()  # the HTTP thread collects while the loop observes
        registry.register(self)

    def observe_many(self, values: npt.NDArray[np.float64]) -> None:
        """Count ``values``; each lands in the first bucket whose bound is >= it (``le``)."""
        idx = np.searchsorted(self._bounds, values, side="left")
        counts = np.bincount(idx, minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative, total = np.cumsum(self._counts).tolist(), self._sum
        bounds = [*(str(b) for b in self._bounds.tolist()), "+Inf"]  # as prometheus-client
        yield HistogramMetricFamily(
            self._name,
            self._doc,
            buckets=list(zip(bounds, cumulative, strict=False)),
            sum_value=total,
        )


class ScorerMetrics:
    """Metrics of the scorer process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter(
            "streamscore_events_consumed", "Events read from the events topic", registry=registry
        )
        self.scored = Counter(
            "streamscore_events_scored", "Events scored (model or fallback)", registry=registry
        )
        self.dead_lettered = Counter(
            "streamscore_events_dead_lettered",
            "Events sent to the dead-letter topic, by reason code",
            ["reason"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "streamscore_fallback_scores",
            "Events scored by the rule-based fallback instead of the model",
            registry=registry,
        )
        self.decisions = Counter(
            "streamscore_decisions", "Decisions made, by decision", ["decision"], registry=registry
        )
        self.batches_aborted = Counter(
            "streamscore_transactions_aborted",
            "Batches whose transaction was aborted and re-processed",
            registry=registry,
        )
        self.delivery_failures = Gauge(
            "streamscore_delivery_failures",
            "Batches aborted in a row, not delivered yet (0: outputs are committing)",
            registry=registry,
        )
        self.batch_size = Histogram(
            "streamscore_batch_size",
            "Records per micro-batch",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "streamscore_stage_seconds",
            "Time per batch in each stage",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=registry,
        )
        self.latency = BatchHistogram(
            "streamscore_end_to_end_latency_seconds",
            "Event's Kafka timestamp to its score being committed",
            _LATENCY_BUCKETS,
            registry,
        )
        self.model = Info("streamscore_model", "The model in use", registry=registry)
        self.model_loaded = Gauge(
            "streamscore_model_loaded",
            "1 when a model is loaded, 0 on fallback rules",
            registry=registry,
        )
        self.reloads_refused = Counter(
            "streamscore_model_reloads_refused",
            "Model checks that kept the models in use: models/ emptied, CURRENT naming a "
            "missing version, a corrupted or mismatched file",
            registry=registry,
        )
        self.drift_value = Gauge(
            "streamscore_drift_value",
            "Latest windowed drift measure (psi, kl, missing_rate, unseen_rate, decision_share)",
            ["measure", "feature"],
            registry=registry,
        )
        self.drift_detections = Counter(
            "streamscore_drift_detections",
            "Drift alerts raised, by signal and feature",
            ["signal", "feature"],
            registry=registry,
        )
        self.decided_by = Counter(
            "streamscore_scores_by_version",
            "Scores sent, by the model version that decided (champion, canary, fallback-rules)",
            ["model_version"],
            registry=registry,
        )
        self.shadow_scores = Counter(
            "streamscore_shadow_scores",
            "scores.shadow records sent, by the version that scored without deciding",
            ["model_version"],
            registry=registry,
        )
        self.challengers = Gauge(
            "streamscore_challenger",
            "Challengers loaded: 1 per version and role (shadow, canary)",
            ["model_version", "role"],
            registry=registry,
        )
        self.velocity_accounts = Gauge(
            "streamscore_velocity_accounts",
            "Accounts of the velocity state, in memory and in the local store (RocksDB)",
            ["where"],
            registry=registry,
        )
        self.canary_guard_trips = Counter(
            "streamscore_canary_guard_trips",
            "Canaries stopped by the guard (decision rate too far from the champion's)",
            ["model_version"],
            registry=registry,
        )

    def observe_batch(
        self,
        size: int,
        result: BatchCounts,
        deliver: dict[str, float],
        stamps: Sequence[int],
    ) -> None:
        """A batch delivered: its counts, each stage's seconds, and each event's latency
        from ``stamps`` (its Kafka timestamp, ms) to now."""
        self.consumed.inc(size)
        self.scored.inc(result.scored)
        self.fallbacks.inc(result.fallback)
        self.batch_size.observe(size)
        for stage, secs in {**result.seconds, **deliver}.items():
            self.stage_seconds.labels(stage=stage).observe(secs)
        for reason, n in result.dead_letters.items():
            self.dead_lettered.labels(reason=reason).inc(n)
        for decision, n in result.decisions.items():
            self.decisions.labels(decision=decision).inc(n)
        for version, n in result.decided_by.items():
            self.decided_by.labels(model_version=version).inc(n)
        for version, n in result.shadow.items():
            self.shadow_scores.labels(model_version=version).inc(n)
        if stamps:  # clipped at 0: producer clocks may be ahead of ours
            latency = time.time() - np.asarray(stamps, dtype=np.float64) / 1000
            self.latency.observe_many(np.maximum(latency, 0.0))


class JoinerMetrics:
    """Metrics of the joiner process, updated from the processor's running counts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "streamscore_join_events", "Join outcomes by kind", ["kind"], registry=registry
        )
        self.unmatched = Counter(
            "streamscore_join_unmatched",
            "Feedback sent to feedback.unmatched, by reason",
            ["reason"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "streamscore_join_dead_lettered",
            "Invalid joiner inputs dead-lettered, by reason",
            ["reason"],
            registry=registry,
        )
        self.misrouted = Counter(
            "streamscore_join_misrouted_feedback",
            "Feedback on another partition than its key's (murmur2), by action taken",
            ["action"],
            registry=registry,
        )
        self.state_size = Gauge(
            "streamscore_join_state_entries",
            "Entries in the join table on this instance",
            registry=registry,
        )
        self.quality = Gauge(
            "streamscore_online_quality",
            "Rolling model quality on labelled events",
            ["model_version", "metric"],
            registry=registry,
        )
        self.cold_start_quality = Gauge(
            "streamscore_online_quality_cold_start",
            "Rolling model quality on labelled events of accounts without history (cold starts)",
            ["model_version", "metric"],
            registry=registry,
        )
        self.concept_alerts = Counter(
            "streamscore_concept_drift_alerts",
            "Concept-drift alerts raised by the joiner",
            registry=registry,
        )
        self.estimated_auc = Gauge(
            "streamscore_estimated_auc",
            "ROC AUC expected from the last scores if calibrated (CBPE), before labels arrive",
            ["model_version"],
            registry=registry,
        )
        self.calibration_error = Gauge(
            "streamscore_calibration_error",
            "Expected calibration error of scores on the last labelled events (10 score bins)",
            ["model_version"],
            registry=registry,
        )
        self.estimate_alerts = Counter(
            "streamscore_estimate_divergence_alerts",
            "Alerts of estimated AUC leaving the realised rolling AUC, raised by the joiner",
            registry=registry,
        )
        self._last: dict[tuple[str, str], int] = {}

    def _inc(self, counter: Counter, label: str, value: str, total: int) -> None:
        key = (str(id(counter)), value)
        delta = total - self._last.get(key, 0)
        if delta > 0:
            counter.labels(**{label: value}).inc(delta)
            self._last[key] = total

    def observe(self, snap: JoinerSnapshot) -> None:
        """Bring the metrics up to date with the joiner's running totals."""
        for kind, n in snap.events.items():
            self._inc(self.events, "kind", kind, n)
        for reason, n in snap.unmatched.items():
            self._inc(self.unmatched, "reason", reason, n)
        for reason, n in snap.dead_lettered.items():
            self._inc(self.dead_lettered, "reason", reason, n)
        for action, n in snap.misrouted.items():
            self._inc(self.misrouted, "action", action, n)
        alerts = snap.concept_alerts - self._last.get(("alerts", ""), 0)
        if alerts > 0:
            self.concept_alerts.inc(alerts)
            self._last[("alerts", "")] = snap.concept_alerts
        estimate_alerts = snap.estimate_alerts - self._last.get(("estimate_alerts", ""), 0)
        if estimate_alerts > 0:
            self.estimate_alerts.inc(estimate_alerts)
            self._last[("estimate_alerts", "")] = snap.estimate_alerts
        self.state_size.set(snap.state_entries)
        self._observe_estimate(snap.estimate)
        for gauge, quality in (
            (self.quality, snap.quality),
            (self.cold_start_quality, snap.cold_start_quality),
        ):
            for version, values in quality.items():
                for metric, value in values.items():
                    gauge.labels(model_version=version, metric=metric).set(value)

    def _observe_estimate(self, estimate: Mapping[str, Mapping[str, float]]) -> None:
        for version, values in estimate.items():
            self.estimated_auc.labels(model_version=version).set(values["estimated_auc"])
            if "calibration_error" in values:
                error = values["calibration_error"]
                self.calibration_error.labels(model_version=version).set(error)


def process_registry() -> CollectorRegistry:
    """A fresh registry with the process, platform and GC collectors (memory, CPU, fds)."""
    from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
