"""A model trained with the velocity features, for the tests that serve one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from test_velocity import brute_force, same

from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.dev.training import LEVELS, VELOCITY_FIELDS, velocity_columns
from streams.model.features import VELOCITY_SET, FeatureAssembler
from streams.model.training import build_manifest, fit, training_params, write_version
from streams.model.velocity import VELOCITY_FEATURES, VelocityConfig
from streams.scoring.score_records import feature_values

MODELS = Path(__file__).resolve().parent.parent / "models"


def write_velocity_models(out: Path) -> Path:
    """``out`` as a models/ with v2, trained on the event's and the velocity features
    (the features of each event from its account's earlier ones, in order), and v1 (the
    repository's, on the event's own)."""
    clean = generate_events_clean(GeneratorConfig(seed=4, count=8_000, events_per_second=2.0))
    V = velocity_columns(clean.events)[0]
    X = FeatureAssembler(LEVELS, VELOCITY_SET).assemble(clean.events, V)
    y = clean.labels.astype(np.float64)
    times = np.array([e["event_time"] for e in clean.events], dtype=np.float64)
    params = training_params({"objective": "binary", "num_leaves": 7, "verbose": -1}, 4)
    fitted = fit(X, y, times, params, 20, 0.2, LEVELS, features=VELOCITY_SET)
    training = {"seed": 4, "events": len(y), **fitted.training}
    manifest = build_manifest(
        "v2", LEVELS, training, fitted.metrics, fitted.reference, VELOCITY_SET
    )
    write_version(out, "v2", fitted.booster, manifest, X[:50])
    (out / "v1").symlink_to(MODELS / "v1")
    return out


def check_velocity(
    scores: list[dict[str, Any]],
    events: list[dict[str, Any]],
    config: VelocityConfig | None = None,
) -> int:
    """Every score's velocity features and ``cold_start`` are the brute force's, from its
    account's earlier events in ``events`` (topic order per partition), and every logged
    feature is exactly what ``train --velocity`` computes over the same events; how many
    scores."""
    config = config or VelocityConfig()
    expected = dict(
        zip(
            [e["event_id"] for e in events],
            brute_force([tuple(e.get(f) for f in VELOCITY_FIELDS) for e in events], config),  # type: ignore[misc]
            strict=True,
        )
    )
    # what the trainer computes over the same events in the same order: no skew
    trainer = FeatureAssembler(LEVELS, VELOCITY_SET).assemble(
        events, velocity_columns(events, config)[0]
    )
    trained = dict(
        zip(
            [e["event_id"] for e in events],
            feature_values(trainer, VELOCITY_SET.integral_index),
            strict=True,
        )
    )
    for score in scores:
        row = trained[score["event_id"]]
        want = {n: None if v != v else v for n, v in zip(VELOCITY_SET.names, row, strict=True)}
        assert score["features"] == want, {
            k: (v, want[k]) for k, v in score["features"].items() if v != want[k]
        }
        values, cold = expected[score["event_id"]]
        got = [score["features"][name] for name in VELOCITY_FEATURES]
        assert same([math.nan if v is None else v for v in got], values), (score, values)
        assert score["cold_start"] is cold, score
    return len(scores)
