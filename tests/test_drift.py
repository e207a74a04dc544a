"""Drift monitoring: seeded streams with drift at a known index; alerts at the right
positions, one per shift, none on a stationary stream; and the scorer wiring."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from bench.memory_io import MemoryIO
from streams.config import Settings
from streams.contracts import validator
from streams.drift import scan
from streams.generator import DriftSpec, GeneratorConfig, generate, generate_events_clean
from streams.metrics import ScorerMetrics
from streams.model import Model, load_model
from streams.pipeline import ScoringPipeline
from streams.records import InRecord, Origin
from streams.scorer import Scorer, drift_monitor, pipeline_config

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


def test_stationary_stream_raises_nothing(model: Model) -> None:
    assert _alerts(model, _events(60_000, seed=101)) == []


def test_feature_gone_missing_upstream_is_one_alert(model: Model) -> None:
    events = _events(40_000, 5, DriftSpec(DRIFT_AT, missing_features=("distance_from_home_km",)))
    alerts = _alerts(model, events)
    assert [(a["signal"], a["feature"]) for a in alerts] == [
        ("missing_rate", "distance_from_home_km")
    ]
    assert DRIFT_AT < alerts[0]["events_seen"] <= DRIFT_AT + 1_000
    assert alerts[0]["statistic"] > 0.2 and validator("drift_alert").is_valid(alerts[0])


def test_unseen_category_flood_is_one_alert(model: Model) -> None:
    events = _events(40_000, 6)
    for e in events[DRIFT_AT:]:
        e["currency"] = "XBT"  # a level no model has seen
    alerts = _alerts(model, events)
    unseen = [a for a in alerts if a["signal"] == "unseen_rate"]
    assert [(a["feature"], a["retrain_requested"]) for a in unseen] == [("currency", False)]
    assert DRIFT_AT < unseen[0]["events_seen"] <= DRIFT_AT + 1_000


def test_small_batches_raise_the_same_alerts_as_whole_chunks(model: Model) -> None:
    # chunks close every 250 events (the step) either way; batches of 50 are kept and
    # binned together when their chunk closes, which must count every one of them
    events = _events(30_000, 7, DriftSpec(DRIFT_AT, amount_scale=3.0))
    whole = _alerts(model, events, batch=250)
    small = _alerts(model, events, batch=50)
    assert any(a["signal"] == "distribution" for a in whole)
    # a window's first time is its first batch's time, which the batch size moves
    for a in whole + small:
        del a["window_first_time"]
    assert small == whole


def test_abrupt_amount_drift_is_caught_within_2000_events(model: Model) -> None:
    alerts = _alerts(model, _events(40_000, 7, DriftSpec(DRIFT_AT, amount_scale=3.0)))
    first = {(a["signal"], a["feature"]): a["events_seen"] for a in reversed(alerts)}
    assert DRIFT_AT < first[("distribution", "avg_amount_30d")] <= DRIFT_AT + 2_000
    assert DRIFT_AT < first[("distribution", "amount")] <= DRIFT_AT + 2_000
    # one shift, one alert per signal and feature (cool-down)
    keys = [(a["signal"], a["feature"]) for a in alerts]
    assert len(keys) == len(set(keys))
    assert all(a["events_seen"] > DRIFT_AT for a in alerts)


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
    assert stats.drift_alerts == len(alerts) and stats.consumed == 6_000
    assert all(validator("drift_alert").is_valid(a) for a in alerts)
    assert io.closed
