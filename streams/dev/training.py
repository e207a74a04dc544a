"""``streamscore train``: train the LightGBM model on generated events and write its artifact.

The artifact is ``<out>/<version>/model.txt`` (LightGBM text format),
``manifest.json`` (``schemas/manifest.schema.json``) and ``check_sample.json``
(generated events' features, messy ones included, that compiled trees are checked on
at load). Training itself is :mod:`streams.model.training`, deterministic for a seed,
so the shipped default model can be reproduced with the seed and count in its
manifest.

>>> result = train(TrainConfig(seed=3, events=5_000, rounds=20))  # doctest: +SKIP
>>> result.manifest["metrics"]["holdout_auc"] > 0.7                 # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from streams.contract.wire import decode_events
from streams.dev.generator import GeneratorConfig, generate, generate_events_clean
from streams.dev.messy import MessySpec
from streams.model.artifact import CURRENT_POINTER
from streams.model.features import CONTRACT_LEVELS, FeatureAssembler, Matrix
from streams.model.training import (
    OnRound,
    build_manifest,
    fit,
    training_params,
    write_version,
)

LEVELS = CONTRACT_LEVELS


@dataclass(frozen=True)
class TrainConfig:
    """What to train on and how."""

    seed: int = 7
    events: int = 200_000
    # the simulated event clock's rate: slow enough that training data spans every hour
    # of the day (200,000 events at 2/s cover about 28 hours)
    events_per_second: float = 2.0
    holdout_fraction: float = 0.2
    rounds: int = 120
    params: dict[str, Any] = field(
        default_factory=lambda: {
            "objective": "binary",
            "learning_rate": 0.08,
            "num_leaves": 15,
            "min_data_in_leaf": 100,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "cat_smooth": 10.0,
        }
    )


@dataclass(frozen=True)
class TrainResult:
    """A trained booster and its manifest (not yet written)."""

    booster: lgb.Booster
    manifest: dict[str, Any]


def training_data(config: TrainConfig) -> tuple[Matrix, Matrix, Matrix]:
    """Generated clean events as (X, y, event_time_ms), time-ordered."""
    gen = GeneratorConfig(
        seed=config.seed, count=config.events, events_per_second=config.events_per_second
    )
    clean = generate_events_clean(gen)
    X = FeatureAssembler(LEVELS).assemble(clean.events)
    times = np.array([e["event_time"] for e in clean.events], dtype=np.float64)
    return X, clean.labels.astype(np.float64), times


def train(
    config: TrainConfig, version: str = "dev", on_round: OnRound | None = None
) -> TrainResult:
    """Train on a time-ordered split and build the manifest."""
    X, y, times = training_data(config)
    params = training_params(config.params, config.seed)
    fitted = fit(X, y, times, params, config.rounds, config.holdout_fraction, LEVELS, on_round)
    training = {
        "seed": config.seed,
        "events": config.events,
        "events_per_second": config.events_per_second,
        **fitted.training,
    }
    manifest = build_manifest(version, LEVELS, training, fitted.metrics, fitted.reference)
    return TrainResult(fitted.booster, manifest)


def check_sample(assembler: FeatureAssembler) -> Matrix:
    """A fixed batch of generated events' features (messy ones included) for checks."""
    config = GeneratorConfig(seed=1, count=2_000, messy=MessySpec(0.1))
    raws = [r.value for r in generate(config) if r.topic == "events"]
    return assembler.assemble_rows([r for r in decode_events(raws) if type(r) is tuple])


def write_artifact(result: TrainResult, out_dir: Path, set_current: bool) -> Path:
    """Write ``<out_dir>/<version>/`` (:func:`streams.model.training.write_version`, with
    :func:`check_sample` for the manifest's levels); optionally point CURRENT at it."""
    version = str(result.manifest["model_version"])
    levels = {f["name"]: f["levels"] for f in result.manifest["features"] if "levels" in f}
    rows = check_sample(FeatureAssembler(levels))
    target = write_version(out_dir, version, result.booster, result.manifest, rows)
    if set_current:
        (out_dir / CURRENT_POINTER).write_text(version + "\n", encoding="utf-8")
    return target
