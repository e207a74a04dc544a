"""The online challenger: a River model learning from ``labelled``, published as a version.

Pure, no Kafka: fed parsed ``labelled`` rows (:func:`streams.lifecycle.labelled_data.
parse_labelled`'s :class:`LabelledRow`: features exactly as the champion saw them),
it predicts each row before learning it (progressive validation: every score is on a
row the model has not learned), keeps the last ``window`` of those scores, and every
``publish_labels`` labels writes a new immutable version ``online-<n>`` (``model.json``,
:mod:`streams.model.online`) that the scorer loads like any version: as a shadow, as
the champion, or as ``fallback_version``. The only module besides
:mod:`streams.monitoring.detectors` that imports River (River's API changes).

Wiring it into the joiner (first labels only: a learned label cannot be taken back)::

    learner = OnlineLearner(OnlineConfig.from_settings(settings))  # if settings.online_enabled
    learner.learn([row])  # row = parse_labelled(value) of each first label the joiner emits
    learner.publish(settings.model_dir)  # after each flush: a Path when it wrote a version

>>> from types import SimpleNamespace as Row
>>> learner = OnlineLearner(OnlineConfig(window=4))
>>> x = tuple(float(i) for i in range(len(FEATURE_NAMES)))
>>> learner.learn([Row(features=x, label=1, event_time=0), Row(features=x, label=0, event_time=1)])
2
>>> learner.labels, len(learner.window)
(2, 2)
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from river import compose, forest, linear_model, optim, preprocessing, tree

from streams.config import Settings, default
from streams.errors import ModelError
from streams.model.features import (
    CATEGORICAL,
    CONTRACT_LEVELS,
    EVENT_SET,
    FEATURE_NAMES,
    Matrix,
    feature_set_of_width,
)
from streams.model.metrics import log_loss, roc_auc
from streams.model.online import KIND, MODEL_JSON, NUMERIC, LinearPredictor
from streams.model.reference import feature_reference, histogram_bins
from streams.model.registry import versions
from streams.model.training import build_manifest, write_version


class Labelled(Protocol):
    """What the learner reads of a ``labelled`` row (``LabelledRow`` has it)."""

    @property
    def features(self) -> tuple[float, ...]: ...
    @property
    def label(self) -> int: ...
    @property
    def event_time(self) -> int: ...


RiverRow = dict[str, float]
PREFIX = "online-"
CHECK_ROWS = 64  # rows of check_sample.json: the window's last
_CATEGORICAL = frozenset(CATEGORICAL)


def river_row(features: Sequence[float], names: Sequence[str] = FEATURE_NAMES) -> RiverRow:
    """A feature vector (``names`` order, NaN missing) as River's dict: missing values
    left out, categorical codes as integers (one-hot keys ``<name>_<code>``)."""
    return {
        name: int(v) if name in _CATEGORICAL else v
        for name, v in zip(names, features, strict=True)
        if v == v  # NaN is missing
    }


def _numeric(x: RiverRow) -> RiverRow:
    return {k: v for k, v in x.items() if k not in _CATEGORICAL}


def _categorical(x: RiverRow) -> RiverRow:
    return {k: v for k, v in x.items() if k in _CATEGORICAL}


@dataclass
class RiverModel:
    """A River binary classifier over feature vectors; ``parts`` name its pieces."""

    name: str
    impl: Any
    parts: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: Sequence[float], names: Sequence[str] = FEATURE_NAMES) -> float:
        """P(fraud) of one vector of ``names`` (0 before anything is learned)."""
        return float(self.impl.predict_proba_one(river_row(features, names)).get(True, 0.0))

    def learn(
        self, features: Sequence[float], label: int, names: Sequence[str] = FEATURE_NAMES
    ) -> None:
        """Learn one labelled vector of ``names``."""
        self.impl.learn_one(river_row(features, names), bool(label))


def logistic(learning_rate: float, l2: float = 0.0) -> RiverModel:
    """Standard scaling of the numeric features, one-hot of the codes, logistic regression."""
    scaled = compose.FuncTransformer(_numeric) | preprocessing.StandardScaler()
    onehot = compose.FuncTransformer(_categorical) | preprocessing.OneHotEncoder()
    lr = linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate), l2=l2)
    union = compose.TransformerUnion(scaled, onehot)
    # the union holds copies of its parts: the scaler is found in it
    scaler = next(
        p.steps["StandardScaler"]
        for p in union.transformers.values()
        if "StandardScaler" in p.steps
    )
    return RiverModel("logistic", union | lr, {"scaler": scaler, "lr": lr})


def adaptive_forest(seed: int, n_models: int = 10) -> RiverModel:
    """River's adaptive random forest (ADWIN-replaced trees)."""
    impl = forest.ARFClassifier(n_models=n_models, seed=seed, nominal_attributes=list(CATEGORICAL))
    return RiverModel("arf", impl)


def adaptive_tree(seed: int) -> RiverModel:
    """River's Hoeffding adaptive tree."""
    impl = tree.HoeffdingAdaptiveTreeClassifier(seed=seed, nominal_attributes=list(CATEGORICAL))
    return RiverModel("hat", impl)


def linear_predictor(model: RiverModel) -> LinearPredictor:
    """What :func:`logistic`'s model knows, for :mod:`streams.model.online`."""
    scaler, lr = model.parts["scaler"], model.parts["lr"]
    weights: dict[str, float] = dict(lr.weights)
    numeric = {
        n: (float(scaler.means[n]), float(scaler.vars[n]), float(weights.get(n, 0.0)))
        for n in NUMERIC
        if n in scaler.means
    }
    categorical: dict[str, dict[int, float]] = {}
    for key, w in weights.items():
        name, _, code = key.rpartition("_")
        if name in _CATEGORICAL:
            categorical.setdefault(name, {})[int(code)] = float(w)
    return LinearPredictor(numeric, categorical, float(lr.intercept))


@dataclass(frozen=True)
class OnlineConfig:
    """The learner's settings; ``levels``: the champion's, whose codes ``labelled`` carries."""

    learning_rate: float = default("online_learning_rate")
    window: int = default("online_window")
    publish_labels: int = default("online_publish_labels")
    min_labels: int = default("online_min_labels")
    levels: Mapping[str, Sequence[str]] = field(default_factory=lambda: CONTRACT_LEVELS)

    @classmethod
    def from_settings(
        cls, s: Settings, levels: Mapping[str, Sequence[str]] | None = None
    ) -> OnlineConfig:
        """The config ``s`` asks for (levels: the contract's unless given)."""
        return cls(
            s.online_learning_rate,
            s.online_window,
            s.online_publish_labels,
            s.online_min_labels,
            levels or CONTRACT_LEVELS,
        )


@dataclass(frozen=True)
class _Seen:
    label: int
    score: float  # predicted before the row was learned
    features: tuple[float, ...]
    event_time: int


class OnlineLearner:
    """The logistic model learning one label at a time, its progressive window, publishing.

    It learns the features the champion scored with: the event's 15, or those and the
    10 computed velocity features (a row's width says which). A row of the other set
    (the champion was swapped for one with other inputs) starts it over: a version over
    other features than the champion's could not be its challenger.
    """

    def __init__(self, config: OnlineConfig) -> None:
        self.config = config
        self.features = EVENT_SET
        self.restarts = 0  # times a row of another feature set started it over
        self._start()

    def _start(self) -> None:
        self.model = logistic(self.config.learning_rate)
        self.window: deque[_Seen] = deque(maxlen=self.config.window)
        self.labels = 0
        self.published_at = 0  # labels learned when the last version was written
        self.min_time: int | None = None  # the earliest event time learned

    def learn(self, rows: Iterable[Labelled]) -> int:
        """Predict, then learn, each row; how many were learned."""
        n = 0
        for row in rows:
            if len(row.features) != len(self.features.names):
                self.features = feature_set_of_width(len(row.features))
                if self.labels or n:
                    self.restarts += 1
                self._start()
                n = 0
            names = self.features.names
            score = self.model.predict(row.features, names)
            self.model.learn(row.features, row.label, names)
            self.window.append(_Seen(row.label, score, row.features, row.event_time))
            t = row.event_time
            self.min_time = t if self.min_time is None else min(self.min_time, t)
            n += 1
        self.labels += n
        return n

    def quality(self) -> dict[str, float]:
        """Progressive AUC and log loss over the window (NaN AUC: one class only)."""
        y, p = self._arrays()[:2]
        if not len(y):
            return {"auc": math.nan, "log_loss": math.nan, "rows": 0}
        return {"auc": roc_auc(y, p), "log_loss": log_loss(y, p), "rows": len(y)}

    def _arrays(self) -> tuple[Matrix, Matrix, Matrix, Matrix]:
        seen = list(self.window)
        y = np.array([s.label for s in seen], dtype=np.float64)
        p = np.array([s.score for s in seen], dtype=np.float64)
        width = len(self.features.names)
        X = np.array([s.features for s in seen], dtype=np.float64).reshape(-1, width)
        t = np.array([s.event_time for s in seen], dtype=np.float64)
        return y, p, X, t

    def export(self, version: str) -> tuple[bytes, dict[str, Any]]:
        """``model.json``'s bytes and the manifest (no hash yet: write_version adds it)."""
        y, p, X, t = self._arrays()
        if len(y) < 2 or y.min() == y.max():
            raise ModelError("online model not exported: its window needs both labels")
        predictor = linear_predictor(self.model)
        fitted = predictor.predict(X)
        levels = {k: list(v) for k, v in self.config.levels.items()}
        metrics = {
            "holdout_auc": round(roc_auc(y, p), 6),  # progressive: predicted before learning
            "holdout_log_loss": round(log_loss(y, p), 6),
            "train_auc": round(roc_auc(y, fitted), 6),
            "holdout_fraud_rate": round(float(y.mean()), 6),
            "labels_learned": self.labels,
        }
        training = {
            "seed": 0,
            "events": self.labels,
            "train_rows": self.labels,
            "holdout_rows": len(y),
            "event_time_min": int(t.min() if self.min_time is None else self.min_time),
            "event_time_max": int(t.max()),
            "holdout_start_time": int(t.min()),
            "params": {
                "model": "river logistic regression",
                "learner": "online",
                "learning_rate": self.config.learning_rate,
                "window": self.config.window,
            },
        }
        reference = {
            "features": feature_reference(X, levels, self.features),
            "score": histogram_bins(fitted),
        }
        manifest = build_manifest(version, levels, training, metrics, reference, self.features)
        libraries = {k: v for k, v in manifest["libraries"].items() if k != "lightgbm"}
        manifest |= {
            "model_kind": KIND,
            "model_file": MODEL_JSON,
            "libraries": {**libraries, "river": installed("river")},
        }
        return predictor.to_json(), manifest

    def due(self) -> bool:
        """Enough labels learned, and enough since the last version, to publish one."""
        c = self.config
        return self.labels >= c.min_labels and self.labels - self.published_at >= c.publish_labels

    def publish(self, model_dir: Path, force: bool = False) -> Path | None:
        """Write the next ``online-<n>`` when due (or ``force``); its path, or None.

        Never overwrites: ModelError if that version appeared meanwhile."""
        if not (force or self.due()):
            return None
        version = next_online_version(model_dir)
        blob, manifest = self.export(version)
        _, _, X, _ = self._arrays()
        path = write_version(model_dir, version, blob, manifest, X[-CHECK_ROWS:])
        self.published_at = self.labels
        return path


def next_online_version(model_dir: Path) -> str:
    """``online-<n>``, one past the highest in ``model_dir``.

    >>> next_online_version(Path("/nonexistent"))
    'online-1'
    """
    numbers = [
        int(m.group(1)) for v in versions(model_dir) if (m := re.fullmatch(r"online-(\d+)", v))
    ]
    return f"{PREFIX}{max(numbers, default=0) + 1}"
