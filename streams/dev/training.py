"""``streamscore train``: train the LightGBM model on generated events and write its artifact.

The artifact is ``<out>/<version>/model.txt`` (LightGBM text format),
``manifest.json`` (``schemas/manifest.schema.json``) and ``check_sample.json``
(generated events' features, messy ones included, that compiled trees are checked on
at load). Training itself is :mod:`streams.model.training`, deterministic for a seed,
so the shipped default model can be reproduced with the seed and count in its
manifest.

With ``velocity`` the model also takes the velocity features, computed over the
generated events in stream order by the scorer's own code (:func:`velocity_columns`,
:class:`~streams.model.velocity.AccountFeatures`), so training and serving cannot
skew; the generator then makes account takeovers (:data:`TAKEOVERS`), the behaviour
those features see.

>>> result = train(TrainConfig(seed=3, events=5_000, rounds=20))  # doctest: +SKIP
>>> result.manifest["metrics"]["holdout_auc"] > 0.7                 # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from streams.contract.events import ROW_INDEX
from streams.contract.wire import decode_events
from streams.dev.generator import GeneratorConfig, generate, generate_events_clean
from streams.dev.messy import MessySpec
from streams.model.artifact import CURRENT_POINTER
from streams.model.features import (
    CONTRACT_LEVELS,
    EVENT_SET,
    VELOCITY_SET,
    FeatureAssembler,
    FeatureSet,
    Matrix,
    feature_set,
)
from streams.model.training import (
    OnRound,
    build_manifest,
    fit,
    training_params,
    write_version,
)
from streams.model.velocity import VELOCITY_FEATURES, AccountFeatures, VelocityConfig

LEVELS = CONTRACT_LEVELS
TAKEOVERS = 0.002
"""Account takeovers per generated event when a model trains on velocity features."""
VELOCITY_FIELDS = ("account_id", "event_time", "amount", "merchant_category", "country")
"""The event fields :meth:`AccountFeatures.observe` reads, in its order."""


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
    velocity: bool = False  # also the velocity features
    takeovers: float | None = None  # per event; None: TAKEOVERS with velocity, else none
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


def velocity_columns(
    events: Sequence[Mapping[str, Any]], config: VelocityConfig | None = None
) -> tuple[Matrix, Matrix]:
    """The velocity features of ``events`` (a row each, NaN missing) and their cold-start
    flags, each from its account's earlier events in this order (the scorer's code).

    >>> V, cold = velocity_columns([{"account_id": "a", "event_time": 0, "amount": 5.0}] * 2)
    >>> cold.tolist(), float(V[1][0])
    ([True, False], 1.0)
    """
    acc = AccountFeatures(config or VelocityConfig())
    rows, cold = [], []
    for e in events:
        values, is_cold = acc.observe(*(e.get(f) for f in VELOCITY_FIELDS))  # type: ignore[arg-type]
        rows.append(values)
        cold.append(is_cold)
    width = len(VELOCITY_FEATURES)
    return np.array(rows, dtype=np.float64).reshape(-1, width), np.array(cold, dtype=np.bool_)


def _takeovers(config: TrainConfig) -> float:
    if config.takeovers is not None:
        return config.takeovers
    return TAKEOVERS if config.velocity else 0.0


def feature_set_of(config: TrainConfig) -> FeatureSet:
    """The features a model trained with ``config`` takes."""
    return VELOCITY_SET if config.velocity else EVENT_SET


def training_data(config: TrainConfig) -> tuple[Matrix, Matrix, Matrix]:
    """Generated clean events as (X, y, event_time_ms), time-ordered; X's columns are
    :func:`feature_set_of` the config's."""
    gen = GeneratorConfig(
        seed=config.seed,
        count=config.events,
        events_per_second=config.events_per_second,
        takeovers=_takeovers(config),
    )
    clean = generate_events_clean(gen)
    features = feature_set_of(config)
    computed = velocity_columns(clean.events)[0] if config.velocity else None
    X = FeatureAssembler(LEVELS, features).assemble(clean.events, computed)
    times = np.array([e["event_time"] for e in clean.events], dtype=np.float64)
    return X, clean.labels.astype(np.float64), times


def train(
    config: TrainConfig, version: str = "dev", on_round: OnRound | None = None
) -> TrainResult:
    """Train on a time-ordered split and build the manifest."""
    X, y, times = training_data(config)
    params = training_params(config.params, config.seed)
    features = feature_set_of(config)
    fitted = fit(
        X, y, times, params, config.rounds, config.holdout_fraction, LEVELS, on_round, features
    )
    training = {
        "seed": config.seed,
        "events": config.events,
        "events_per_second": config.events_per_second,
        **({"takeovers": _takeovers(config)} if config.velocity else {}),
        **fitted.training,
    }
    manifest = build_manifest(version, LEVELS, training, fitted.metrics, fitted.reference, features)
    return TrainResult(fitted.booster, manifest)


def check_sample(assembler: FeatureAssembler) -> Matrix:
    """A fixed batch of generated events' features (messy ones included) for checks, the
    velocity features too if the assembler's model takes them."""
    config = GeneratorConfig(seed=1, count=2_000, messy=MessySpec(0.1))
    raws = [r.value for r in generate(config) if r.topic == "events"]
    rows = [r for r in decode_events(raws) if type(r) is tuple]
    computed = None
    if assembler.features.computed:
        events = [{f: row[ROW_INDEX[f]] for f in VELOCITY_FIELDS} for row in rows]
        computed = velocity_columns(events)[0]
    return assembler.assemble_rows(rows, computed)


def write_artifact(result: TrainResult, out_dir: Path, set_current: bool) -> Path:
    """Write ``<out_dir>/<version>/`` (:func:`streams.model.training.write_version`, with
    :func:`check_sample` for the manifest's levels); optionally point CURRENT at it."""
    version = str(result.manifest["model_version"])
    features = result.manifest["features"]
    levels = {f["name"]: f["levels"] for f in features if "levels" in f}
    assembler = FeatureAssembler(levels, feature_set([f["name"] for f in features]))
    rows = check_sample(assembler)
    target = write_version(out_dir, version, result.booster, result.manifest, rows)
    if set_current:
        (out_dir / CURRENT_POINTER).write_text(version + "\n", encoding="utf-8")
    return target
