"""Training with the velocity features (issue 27): ``train --velocity`` computes them with
the scorer's code over the generated events in stream order; ``retrain`` from a velocity
parent trains on the 25 logged features exactly and keeps the parent's feature set;
readers of labels that only need scores (the promotion gate, the autopilot) take any."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streams.cli import main
from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.dev.training import VELOCITY_FIELDS, TrainConfig, training_data, velocity_columns
from streams.lifecycle.labelled_data import latest_by_event, training_matrix
from streams.lifecycle.retrain import RetrainOptions, retrain_records
from streams.model.artifact import load_model
from streams.model.features import EVENT_SET, FEATURES, VELOCITY_SET
from streams.model.velocity import AccountFeatures, VelocityConfig
from streams.scoring.score_records import feature_values


@pytest.fixture(scope="module")
def velocity_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    args = ["train", "--velocity", "--events", "6000", "--rounds", "15", "--version", "v1"]
    assert main([*args, "--out", str(out)]) == 0
    return out


def test_velocity_columns_are_the_scorers_features_in_stream_order() -> None:
    events = generate_events_clean(GeneratorConfig(seed=2, count=3_000)).events
    V, cold = velocity_columns(events)
    acc = AccountFeatures(VelocityConfig())  # the same code the scorer's state runs
    for e, row, was_cold in zip(events, V, cold, strict=True):
        values, is_cold = acc.observe(*(e.get(f) for f in VELOCITY_FIELDS))
        assert is_cold == was_cold
        same = zip(values, row, strict=True)
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in same)
    assert 0 < cold.sum() < len(events)  # some accounts come back: features to learn from


def test_train_velocity_makes_a_model_of_the_velocity_set(velocity_models: Path) -> None:
    model = load_model(velocity_models, "v1")
    assert model.features is VELOCITY_SET
    manifest = model.manifest
    computed = [f["name"] for f in manifest["features"] if f.get("source") == "computed"]
    assert computed == VELOCITY_SET.names[len(FEATURES) :]
    assert manifest["training"]["takeovers"] > 0
    X, _, _ = training_data(TrainConfig(seed=7, events=500, velocity=True))
    assert X.shape[1] == len(VELOCITY_SET.names)
    assert not np.isnan(X[:, len(FEATURES) :]).all()  # computed, not left missing


def _labelled(models: Path, events: int = 2_500) -> list[InRecord]:
    """``labelled`` records of events scored by the velocity model, their 25 features
    logged as the scorer logs them."""
    clean = generate_events_clean(GeneratorConfig(seed=9, count=events, takeovers=0.002))
    model = load_model(models, "v1")
    X = model.assembler.assemble(clean.events, velocity_columns(clean.events)[0])
    scores = model.predict(X)
    out = []
    rows = feature_values(X, VELOCITY_SET.integral_index)
    for i, (e, vector, score, label) in enumerate(
        zip(clean.events, rows, scores, clean.labels.tolist(), strict=True)
    ):
        t = int(e["event_time"])
        doc: dict[str, Any] = {
            "event_id": e["event_id"],
            "account_id": e["account_id"],
            "features": dict(zip(VELOCITY_SET.names, vector, strict=True)),
            "score": float(score),
            "decision": "approve",
            "model_version": "v1",
            "label": int(label),
            "label_source": "chargeback",
            "feedback_id": f"fb-{e['event_id']}",
            "event_time": t,
            "score_time": t + 5,
            "label_time": t + 60_000,
            "label_delay_ms": 60_000,
            "correction": False,
            "previous_label": None,
        }
        key = e["event_id"].encode()
        out.append(InRecord(Origin("labelled", 0, i), key, orjson.dumps(doc)))
    return out


def test_retrain_from_a_velocity_parent_trains_on_the_logged_features(
    velocity_models: Path,
) -> None:
    records = _labelled(velocity_models)
    settings = Settings(model_dir=velocity_models)
    rows, counts = latest_by_event(records, VELOCITY_SET)
    assert counts.skipped == {} and len(rows) == len(records)
    X, _, _ = training_matrix(rows.values(), VELOCITY_SET)
    assert X.shape == (len(records), len(VELOCITY_SET.names))
    result = retrain_records(records, settings, RetrainOptions(rounds=10, version="v2"))
    assert result.counts.events == len(records)
    assert load_model(velocity_models, "v2").features is VELOCITY_SET
    # an event-feature reader skips them, a reader of any set takes them
    assert latest_by_event(records, EVENT_SET)[1].skipped == {"feature_names": len(records)}
    assert len(latest_by_event(records, None)[0]) == len(records)
