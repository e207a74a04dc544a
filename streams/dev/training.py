"""``streamscore train``: train the LightGBM model on generated events and write its artifact.

The artifact is ``<out>/<version>/model.txt`` (LightGBM text format),
``manifest.json`` (``schemas/manifest.schema.json``) and ``check_sample.json``
(generated events' features, messy ones included, that compiled trees are checked on
at load). Training is deterministic for a seed (LightGBM ``deterministic`` mode, fixed
threads), so the shipped default model can be reproduced with the seed and count in
its manifest.

>>> result = train(TrainConfig(seed=3, events=5_000, rounds=20))  # doctest: +SKIP
>>> result.manifest["metrics"]["holdout_auc"] > 0.7                 # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson

import streams
from streams.contract.events import SCHEMA_VERSION
from streams.contract.wire import decode_events
from streams.dev.generator import GeneratorConfig, generate, generate_events_clean
from streams.dev.messy import MessySpec
from streams.model.artifact import CHECK_SAMPLE, CURRENT_POINTER
from streams.model.features import (
    CATEGORICAL_INDEX,
    CONTRACT_LEVELS,
    FEATURE_NAMES,
    FEATURES,
    FeatureAssembler,
    Matrix,
)
from streams.model.metrics import log_loss, roc_auc
from streams.model.reference import feature_reference, histogram_bins

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


def _lgb_params(config: TrainConfig) -> dict[str, Any]:
    # deterministic + fixed threads: the same seed gives the same model bytes
    return {
        **config.params,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 2,
        "verbose": -1,
    }


def train(config: TrainConfig, version: str = "dev") -> TrainResult:
    """Train on a time-ordered split and build the manifest."""
    X, y, times = training_data(config)
    cut = int(len(y) * (1 - config.holdout_fraction))
    params = _lgb_params(config)
    train_set = lgb.Dataset(
        X[:cut], y[:cut], feature_name=FEATURE_NAMES, categorical_feature=CATEGORICAL_INDEX
    )
    booster = lgb.train(params, train_set, num_boost_round=config.rounds)
    p_hold = np.asarray(booster.predict(X[cut:]), dtype=np.float64)
    p_train = np.asarray(booster.predict(X[:cut]), dtype=np.float64)
    metrics = {
        "holdout_auc": round(roc_auc(y[cut:], p_hold), 6),
        "holdout_log_loss": round(log_loss(y[cut:], p_hold), 6),
        "train_auc": round(roc_auc(y[:cut], p_train), 6),
        "holdout_fraud_rate": round(float(y[cut:].mean()), 6),
        "train_fraud_rate": round(float(y[:cut].mean()), 6),
    }
    training = {
        "seed": config.seed,
        "events": config.events,
        "events_per_second": config.events_per_second,
        "train_rows": cut,
        "holdout_rows": len(y) - cut,
        "event_time_min": int(times[0]),
        "event_time_max": int(times[-1]),
        "holdout_start_time": int(times[cut]),
        "params": params,
        "num_trees": booster.num_trees(),
    }
    reference = {
        "features": feature_reference(X[:cut], LEVELS),
        "score": histogram_bins(p_hold),
    }
    return TrainResult(booster, _manifest(version, training, metrics, reference))


def _manifest(
    version: str, training: dict[str, Any], metrics: dict[str, Any], reference: dict[str, Any]
) -> dict[str, Any]:
    return {
        "manifest_version": 1,
        "model_version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": "model.txt",
        "model_sha256": "",  # filled by write_artifact from the bytes written
        "event_schema_version": SCHEMA_VERSION,
        "features": [
            {
                "name": f.name,
                "kind": f.kind,
                **({"levels": LEVELS[f.name]} if f.name in LEVELS else {}),
            }
            for f in FEATURES
        ],
        "training": training,
        "metrics": metrics,
        "reference": reference,
        "libraries": {
            "lightgbm": lgb.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "streamscore": streams.__version__,
        },
    }


def check_sample(assembler: FeatureAssembler) -> Matrix:
    """A fixed batch of generated events' features (messy ones included) for checks."""
    config = GeneratorConfig(seed=1, count=2_000, messy=MessySpec(0.1))
    raws = [r.value for r in generate(config) if r.topic == "events"]
    return assembler.assemble_rows([r for r in decode_events(raws) if type(r) is tuple])


def write_check_sample(target: Path, manifest: dict[str, Any]) -> None:
    """``<target>/check_sample.json``: :func:`check_sample` for the manifest's levels."""
    levels = {f["name"]: f["levels"] for f in manifest["features"] if "levels" in f}
    X = check_sample(FeatureAssembler(levels))
    rows = [[None if np.isnan(v) else v for v in row] for row in X.tolist()]
    (target / CHECK_SAMPLE).write_bytes(orjson.dumps(rows, option=orjson.OPT_APPEND_NEWLINE))


def write_artifact(result: TrainResult, out_dir: Path, set_current: bool) -> Path:
    """Write ``<out_dir>/<version>/{model.txt,manifest.json,check_sample.json}``; optionally
    point CURRENT at it."""
    version = str(result.manifest["model_version"])
    target = out_dir / version
    target.mkdir(parents=True, exist_ok=True)
    blob = result.booster.model_to_string().encode("utf-8")
    (target / "model.txt").write_bytes(blob)
    manifest = {**result.manifest, "model_sha256": hashlib.sha256(blob).hexdigest()}
    (target / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    write_check_sample(target, manifest)
    if set_current:
        (out_dir / CURRENT_POINTER).write_text(version + "\n", encoding="utf-8")
    return target
