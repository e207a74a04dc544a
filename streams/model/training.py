"""Training a model version: deterministic LightGBM, its manifest, and writing it whole.

One core for ``streamscore train`` (generated events, :mod:`streams.dev.training`) and
``streamscore retrain`` (logged feature vectors, :mod:`streams.lifecycle.retrain`).
Training is deterministic (LightGBM ``deterministic``, row-wise histograms, fixed
threads, a seed): the same rows and seed give the same model file bytes.

A version is written into ``<model_dir>/.incoming-<version>-<pid>`` and renamed to
``<model_dir>/<version>`` when complete: a reader never sees half a version, and an
existing version is never overwritten.

>>> training_params({"objective": "binary", "seed": 1}, seed=7)["seed"]
7
>>> holdout_split(10, 0.2)
8
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson

import streams
from streams.contract.events import SCHEMA_VERSION
from streams.errors import ModelError
from streams.model.artifact import CHECK_SAMPLE
from streams.model.features import CATEGORICAL_INDEX, EVENT_SET, FeatureSet, Matrix
from streams.model.metrics import log_loss, roc_auc
from streams.model.reference import feature_reference, histogram_bins

MODEL_FILE = "model.txt"
MANIFEST_FILE = "manifest.json"
INCOMING_PREFIX = ".incoming-"
THREADS = 2  # fixed: LightGBM's sums, hence the model bytes, depend on the thread count

# the same rows and seed give the same model bytes
_DETERMINISTIC = {
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": THREADS,
    "verbose": -1,
}

OnRound = Callable[[int, int], None]
"""Called after each boosting round with (rounds done, rounds)."""


def training_params(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``params`` with ``seed`` and the settings that make training deterministic."""
    return {**params, "seed": seed, **_DETERMINISTIC}


def holdout_split(rows: int, holdout_fraction: float) -> int:
    """Index of the first holdout row of ``rows`` time-ordered rows."""
    return int(rows * (1 - holdout_fraction))


def train_booster(
    X: Matrix,
    y: Matrix,
    params: Mapping[str, Any],
    rounds: int,
    on_round: OnRound | None = None,
    features: FeatureSet = EVENT_SET,
) -> lgb.Booster:
    """Train a binary LightGBM booster on ``X`` (``features``' order, NaN missing)."""
    names = features.names
    data = lgb.Dataset(X, y, feature_name=names, categorical_feature=CATEGORICAL_INDEX)
    callbacks = []
    if on_round is not None:

        def _report(env: Any) -> None:
            on_round(env.iteration + 1, env.end_iteration)

        callbacks.append(_report)
    return lgb.train(dict(params), data, num_boost_round=rounds, callbacks=callbacks)


def predict(booster: lgb.Booster, X: Matrix) -> Matrix:
    """The booster's probabilities for ``X``."""
    out: Matrix = np.asarray(booster.predict(X, num_threads=THREADS), dtype=np.float64)
    return out


def quality(y: Matrix, p: Matrix) -> dict[str, float]:
    """AUC and log loss of scores ``p`` against labels ``y``, rounded for a manifest."""
    return {"auc": round(roc_auc(y, p), 6), "log_loss": round(log_loss(y, p), 6)}


@dataclass(frozen=True)
class Fitted:
    """A booster trained on the earlier rows, described on the later (holdout) ones."""

    booster: lgb.Booster
    cut: int  # the first holdout row
    metrics: dict[str, float]
    training: dict[str, Any]  # the manifest's ``training`` fields that rows determine
    reference: dict[str, Any]


def fit(
    X: Matrix,
    y: Matrix,
    times: Matrix,
    params: Mapping[str, Any],
    rounds: int,
    holdout_fraction: float,
    levels: Mapping[str, list[str]],
    on_round: OnRound | None = None,
    features: FeatureSet = EVENT_SET,
) -> Fitted:
    """Train on the time-ordered rows before the holdout; metrics on the holdout;
    drift reference statistics of the training rows (features) and holdout scores."""
    cut = holdout_split(len(y), holdout_fraction)
    booster = train_booster(X[:cut], y[:cut], params, rounds, on_round, features)
    p_hold, p_train = predict(booster, X[cut:]), predict(booster, X[:cut])
    hold = quality(y[cut:], p_hold)
    metrics = {
        "holdout_auc": hold["auc"],
        "holdout_log_loss": hold["log_loss"],
        "train_auc": round(roc_auc(y[:cut], p_train), 6),
        "holdout_fraud_rate": round(float(y[cut:].mean()), 6),
        "train_fraud_rate": round(float(y[:cut].mean()), 6),
    }
    training = {
        "train_rows": cut,
        "holdout_rows": len(y) - cut,
        "event_time_min": int(times[0]),
        "event_time_max": int(times[-1]),
        "holdout_start_time": int(times[cut]),
        "params": dict(params),
        "num_trees": booster.num_trees(),
    }
    reference = {
        "features": feature_reference(X[:cut], dict(levels), features),
        "score": histogram_bins(p_hold),
    }
    return Fitted(booster, cut, metrics, training, reference)


def build_manifest(
    version: str,
    levels: Mapping[str, list[str]],
    training: dict[str, Any],
    metrics: dict[str, Any],
    reference: dict[str, Any],
    features: FeatureSet = EVENT_SET,
) -> dict[str, Any]:
    """A manifest (``schemas/manifest.schema.json``) without its file hash, which
    :func:`write_version` fills from the bytes it writes."""
    return {
        "manifest_version": 1,
        "model_version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": MODEL_FILE,
        "model_sha256": "",
        "event_schema_version": SCHEMA_VERSION,
        "features": [
            {
                "name": f.name,
                "kind": f.kind,
                **({"levels": list(levels[f.name])} if f.name in levels else {}),
                **({"source": f.source} if f.source != "event" else {}),
            }
            for f in features.features
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


def write_version(
    model_dir: Path,
    version: str,
    booster: lgb.Booster | bytes,
    manifest: Mapping[str, Any],
    check_rows: Matrix,
) -> Path:
    """Write ``<model_dir>/<version>/`` (model: a booster, or a model file's bytes named by
    the manifest's ``model_file``; manifest with the model's sha256; check sample) whole,
    by renaming a complete temporary directory; ModelError if the version exists."""
    if version.startswith(".") or "/" in version or not version:
        raise ModelError(f"invalid model version name {version!r}")
    target = model_dir / version
    if target.exists():
        raise ModelError(f"model version {version} exists in {model_dir}: versions are immutable")
    model_dir.mkdir(parents=True, exist_ok=True)
    incoming = model_dir / f"{INCOMING_PREFIX}{version}-{os.getpid()}"
    shutil.rmtree(incoming, ignore_errors=True)  # a previous try of this process id
    incoming.mkdir()
    try:
        _write_files(incoming, version, booster, manifest, check_rows)
        if target.exists():  # written meanwhile by another process
            raise ModelError(f"model version {version} appeared in {model_dir} while writing")
        os.rename(incoming, target)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    return target


def _write_files(
    base: Path,
    version: str,
    booster: lgb.Booster | bytes,
    manifest: Mapping[str, Any],
    rows: Matrix,
) -> None:
    if isinstance(booster, bytes):
        blob, name = booster, manifest["model_file"]
    else:
        blob, name = booster.model_to_string().encode("utf-8"), MODEL_FILE
    (base / name).write_bytes(blob)
    full = {**manifest, "model_version": version, "model_sha256": hashlib.sha256(blob).hexdigest()}
    (base / MANIFEST_FILE).write_bytes(
        orjson.dumps(full, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    check = [[None if np.isnan(v) else v for v in row] for row in rows.tolist()]
    (base / CHECK_SAMPLE).write_bytes(orjson.dumps(check, option=orjson.OPT_APPEND_NEWLINE))
    for path in base.iterdir():
        with path.open("rb") as f:
            os.fsync(f.fileno())  # the files are on disk before the rename publishes them
