"""Drift monitoring: seeded streams with drift at a known index; alerts at the right
positions, one per shift, none on a stationary stream, the same whatever the batches;
the alert records (data and concept drift) against their schema; and the scorer wiring."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.contract.schemas import schema, validator
from streams.dev.generator import DriftSpec, GeneratorConfig, generate, generate_events_clean
from streams.dev.memory_io import MemoryIO
from streams.model.artifact import Model, load_model
from streams.monitoring.drift import drift_monitor, scan
from streams.monitoring.quality import OnlineQuality
from streams.ops.metrics import ScorerMetrics
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import ScoringPipeline
from streams.scoring.scorer import Scorer

MODELS = Path(__file__).resolve().parent.parent / "models"
DRIFT_AT = 20_000


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODELS)


def _events(count: int, seed: int, *drift: DriftSpec) -> list[dict[str, Any]]:
    # the training clock (2 events/s): a stationary stream looks like the training data
    config = GeneratorConfig(seed=seed, count=count, events_per_second=2.0, drift=drift)
    return generate_events_clean(config).events


def _alerts(model: Model, events: list[dict[str, Any]], batch: int = 500) -> list[dict[str, Any]]:
    return scan(model, events, batch=batch)


def _first(alerts: list[dict[str, Any]]) -> dict[tuple[str, str | None], int]:
    """Where each (signal, feature) first fired, by events seen."""
    return {(a["signal"], a["feature"]): a["events_seen"] for a in reversed(alerts)}


def test_stationary_stream_raises_nothing(model: Model) -> None:
    assert _alerts(model, _events(60_000, seed=101)) == []


@pytest.mark.parametrize("width", [0, 5_000], ids=["abrupt", "gradual"])
def test_feature_gone_missing_upstream_is_one_alert(model: Model, width: int) -> None:
    # gradually: the few values left are too few for a PSI, which is not checked then
    kind = "gradual" if width else "abrupt"
    spec = DriftSpec(DRIFT_AT, kind, width, missing_features=("distance_from_home_km",))
    alerts = _alerts(model, _events(40_000, 5, spec))
    assert [(a["signal"], a["feature"]) for a in alerts] == [
        ("missing_rate", "distance_from_home_km")
    ]
    assert DRIFT_AT < alerts[0]["events_seen"] <= DRIFT_AT + 1_000 + width
    assert alerts[0]["statistic"] > 0.2 and validator("drift_alert").is_valid(alerts[0])


def test_unseen_category_flood_is_one_alert(model: Model) -> None:
    events = _events(40_000, 6)
    for e in events[DRIFT_AT:]:
        e["currency"] = "XBT"  # a level no model has seen
    alerts = _alerts(model, events)
    unseen = [a for a in alerts if a["signal"] == "unseen_rate"]
    assert [(a["feature"], a["retrain_requested"]) for a in unseen] == [("currency", False)]
    assert DRIFT_AT < unseen[0]["events_seen"] <= DRIFT_AT + 1_000


def test_the_same_stream_raises_the_same_alerts_whatever_the_batch_size(model: Model) -> None:
    # the window and its step are events: a batch is split at chunk boundaries, so a
    # backlog read in batches of 5,000 is judged on the same windows as a trickle
    events = _events(30_000, 7, DriftSpec(DRIFT_AT, amount_scale=3.0))
    by_size = {size: scan(model, events, batch=size, partitions=6) for size in (1, 250, 5_000)}
    assert by_size[1] == by_size[250] == by_size[5_000]
    alerts = by_size[250]
    signals = {a["signal"] for a in alerts}
    assert {"distribution", "mean_shift"} <= signals
    assert all(a["window"] == 1_000 for a in alerts if a["detector"] == "window")
    assert all(validator("drift_alert").is_valid(a) for a in alerts)


def test_an_alert_names_its_trigger_and_where_its_window_starts(model: Model) -> None:
    events = _events(30_000, 7, DriftSpec(DRIFT_AT, amount_scale=3.0))
    alert = next(a for a in scan(model, events, batch=5_000, partitions=6)
                 if a["signal"] == "distribution")  # fmt: skip
    # event i was read from partition i % 6 at offset i // 6; the window is the last 1,000
    last, first = alert["events_seen"] - 1, alert["events_seen"] - 1_000
    assert alert["trigger"] == {"topic": "events", "partition": last % 6, "offset": last // 6}
    assert alert["window_start"] == [
        {"topic": "events", "partition": p, "offset": min(i // 6 for i in range(first, last + 1)
                                                          if i % 6 == p)}
        for p in range(6)
    ]  # fmt: skip
    assert alert["time"] == events[last]["event_time"]
    assert alert["window_first_time"] == events[first]["event_time"]


def test_abrupt_amount_drift_is_caught_within_2000_events(model: Model) -> None:
    alerts = _alerts(model, _events(40_000, 7, DriftSpec(DRIFT_AT, amount_scale=3.0)))
    first = _first(alerts)
    assert DRIFT_AT < first[("distribution", "avg_amount_30d")] <= DRIFT_AT + 2_000
    assert DRIFT_AT < first[("distribution", "amount")] <= DRIFT_AT + 2_000
    # one shift, one alert per signal and feature (cool-down)
    keys = [(a["signal"], a["feature"]) for a in alerts]
    assert len(keys) == len(set(keys))
    assert all(a["events_seen"] > DRIFT_AT for a in alerts)
    # a shift this large: the mean rank moves by many standard errors in the first chunk
    assert DRIFT_AT < first[("mean_shift", "amount")] <= DRIFT_AT + 500


def test_a_small_sustained_shift_only_the_mean_shift_sees(model: Model) -> None:
    # amounts 20% higher: PSI over 1,000 events stays far under 0.25
    alerts = _alerts(model, _events(40_000, 7, DriftSpec(DRIFT_AT, amount_scale=1.2)))
    first = _first(alerts)
    assert {s for s, _ in first} == {"mean_shift"}
    assert DRIFT_AT < first[("mean_shift", "amount")] <= DRIFT_AT + 4_000
    assert all(a["statistic"] > 10 and a["retrain_requested"] for a in alerts)


def test_a_drift_within_bins_is_seen_by_the_continuous_rank(model: Model) -> None:
    # every amount in an interior bin moves half-way up it: the bin counts do not change
    events = _events(40_000, 7)
    edges = model.manifest["reference"]["features"]["amount"]["bins"]["edges"]
    for e in events[DRIFT_AT:]:
        i = int(np.searchsorted(edges, e["amount"], side="left"))
        if 0 < i < len(edges):
            e["amount"] = round(edges[i] - (edges[i] - e["amount"]) / 2, 2)
    first = _first(_alerts(model, events))
    assert ("distribution", "amount") not in first
    assert DRIFT_AT < first[("mean_shift", "amount")] <= DRIFT_AT + 6_000


def test_drift_window_must_be_a_multiple_of_its_step() -> None:
    with pytest.raises(ValidationError, match="multiple of drift_step"):
        Settings(drift_window=1_000, drift_step=300)


def test_a_concept_alert_is_a_drift_alert_record() -> None:
    quality = OnlineQuality(window=500, threshold=0.2, cooldown=100_000)
    alerts = []
    for i in range(6_000):
        label = int(i % 10 == 0)
        good = (label == 1) == (i < 3_000)  # the relation flips at 3,000
        score = 0.8 if good == bool(label) else 0.05
        origin = Origin("feedback", i % 3, i // 3)
        if (alert := quality.update("v", label, score, 1_000 + i, origin)) is not None:
            alerts.append((i, alert))
    [(i, alert)] = alerts
    assert validator("drift_alert").is_valid(alert)
    assert alert["trigger"] == {"topic": "feedback", "partition": i % 3, "offset": i // 3}
    assert alert["window_start"] == [{"topic": "feedback", "partition": p, "offset": 0}
                                     for p in range(3)]  # fmt: skip
    assert alert["window"] == alert["events_seen"] == i + 1 and alert["time"] == 1_000 + i
    assert alert["signal"] == "concept" and alert["retrain_requested"]


def test_the_alert_schema_documents_every_field_and_forbids_others() -> None:
    s = schema("drift_alert")
    assert s["additionalProperties"] is False and set(s["required"]) == set(s["properties"])
    assert all("description" in p for p in s["properties"].values())


def test_scorer_sends_alerts_in_the_batch_outputs(model: Model) -> None:
    settings = Settings(drift_window=1_000, drift_step=250)
    drift = DriftSpec(3_000, missing_features=("account_age_days",))
    gen = GeneratorConfig(seed=8, count=6_000, events_per_second=2.0, drift=(drift,))
    records = [r for r in generate(gen) if r.topic == "events"]
    inputs = [InRecord(Origin("events", 0, i), r.key, r.value) for i, r in enumerate(records)]
    batches = [inputs[i : i + 500] for i in range(0, len(inputs), 500)]
    stop = threading.Event()
    io = MemoryIO(lambda _room: batches.pop(0) if batches else (stop.set() or []))
    pipeline = ScoringPipeline(model, pipeline_config(settings))
    scorer = Scorer(settings, pipeline, io, ScorerMetrics(CollectorRegistry()),
                    drift_monitor(settings, model))  # fmt: skip
    stats = scorer.run(stop)
    delivered = [out for outputs, _ in io.sent for out in outputs]
    alerts = [orjson.loads(r.value) for r in delivered if r.topic == "drift.alerts"]
    keys = [(a["signal"], a["feature"]) for a in alerts]
    # the feature going missing; the model's scores move with it, which is drift too
    assert ("missing_rate", "account_age_days") in keys and len(keys) == len(set(keys))
    assert all(a["events_seen"] > 3_000 for a in alerts)
    # every event valid, one partition: the trigger is the event that closed the chunk
    assert all(a["trigger"]["offset"] == a["events_seen"] - 1 for a in alerts)
    assert stats.drift_alerts == len(alerts) and stats.consumed == 6_000
    assert all(validator("drift_alert").is_valid(a) for a in alerts)
    assert io.closed
