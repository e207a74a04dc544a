"""What the scorer adds to a batch's outputs besides scores and dead letters: the drift
monitor's alerts and the canary guard's stop, each with its metrics and log line.

Both go to ``topic_drift_alerts`` in the batch's own transaction, so an alert is
committed exactly when the scores it is about are.

>>> n = drift_outputs(monitor, result, "drift.alerts", metrics)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time

import orjson

from streams.config import Settings
from streams.contract.records import OutRecord
from streams.errors import ModelError
from streams.monitoring.drift import DriftMonitor
from streams.ops.metrics import ScorerMetrics
from streams.scoring.challengers import GuardTrip, guard_alert, guard_evidence
from streams.scoring.pipeline import BatchResult
from streams.scoring.reload import stop_canary

log = logging.getLogger(__name__)


def drift_outputs(
    drift: DriftMonitor, result: BatchResult, topic: str, metrics: ScorerMetrics
) -> int:
    """Feed the batch's valid events to the drift monitor; its alerts join the batch's
    outputs (on ``topic``). How many alerts."""
    t0 = time.perf_counter()
    closed = drift.chunks_closed
    alerts = drift.observe(result.features, result.scores, result.origins, result.event_times)
    for alert in alerts:
        metrics.drift_detections.labels(signal=alert.signal, feature=alert.feature or "score").inc()
        key = alert.model_version.encode()
        result.records.append(OutRecord(topic, key, orjson.dumps(alert.record()), []))
        log.warning("drift detected", extra={"signal": alert.signal, "feature": alert.feature})
    if drift.chunks_closed != closed:  # the window moved: gauges once per batch
        for (measure, feature), value in drift.values.items():
            metrics.drift_value.labels(measure=measure, feature=feature).set(value)
    metrics.stage_seconds.labels(stage="drift").observe(time.perf_counter() - t0)
    return len(alerts)


def canary_stopped(
    settings: Settings, metrics: ScorerMetrics, trip: GuardTrip, result: BatchResult
) -> None:
    """The guard stopped the canary: an alert in this batch, a metric, and the registry
    told (it stays a shadow; ``models/CHALLENGERS`` and ``HISTORY.jsonl``)."""
    alert = guard_alert(trip, result.origins)
    key = trip.version.encode()
    record = OutRecord(settings.topic_drift_alerts, key, orjson.dumps(alert.record()))
    result.records.append(record)
    metrics.canary_guard_trips.labels(model_version=trip.version).inc()
    log.warning("canary stopped by its guard", extra=alert.record())
    try:
        stop_canary(settings, trip.version, guard_evidence(trip))
    except (ModelError, OSError) as exc:  # e.g. a read-only models/: stopped here anyway
        log.warning("canary stop not recorded", extra={"error": str(exc)})
