"""The online challenger's artifact: a linear model in JSON, predicted with numpy.

``model.json`` holds what River's logistic pipeline (standard scaling of the numeric
features, one-hot of the categorical codes, logistic regression) knows, learned by
:mod:`streams.monitoring.online_learner`: per numeric feature its running mean,
variance and weight; per categorical feature a weight per code; the intercept. The
scorer predicts it over the champion's feature matrix with numpy, without River.

As River does: a missing value (NaN) adds nothing, a numeric feature of zero variance
adds nothing, and a code without a weight (unseen, or the unseen-level code) adds nothing.

>>> m = LinearPredictor({"amount": (10.0, 4.0, 0.5)}, {"channel": {1: 2.0}}, -1.0)
>>> X = np.full((3, 15), np.nan)  # the event's 15 features; channel is the 13th
>>> X[0, 0], X[1, 0], X[1, 12] = 12.0, 12.0, 1.0
>>> [round(p, 4) for p in m.predict(X).tolist()]
[0.3775, 0.8176, 0.2689]
>>> LinearPredictor.from_json(m.to_json()) == m
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from streams.errors import ModelError
from streams.model.features import CATEGORICAL, VELOCITY_SET, FeatureSet, Matrix

FORMAT = "streamscore-linear/1"
MODEL_JSON = "model.json"
KIND = "river_linear"
NUMERIC: tuple[str, ...] = tuple(f.name for f in VELOCITY_SET.features if f.kind == "numeric")
"""Every numeric input a linear model may weigh: the event's and the computed ones."""
# every feature set is a prefix of VELOCITY_SET (the event's own first), so a feature's
# column is the same in each model's matrix
_COLUMNS: dict[str, int] = {name: j for j, name in enumerate(VELOCITY_SET.names)}
_LOGIT_CLAMP = 30.0  # River's sigmoid: 0 below -30, 1 above 30


@dataclass(frozen=True)
class LinearPredictor:
    """Scaled numeric terms, one-hot categorical terms and an intercept, through a sigmoid.

    ``numeric``: feature -> (mean, variance, weight); ``categorical``: feature -> code ->
    weight. Features absent from either add nothing.
    """

    numeric: dict[str, tuple[float, float, float]]
    categorical: dict[str, dict[int, float]]
    intercept: float
    _cols: npt.NDArray[np.intp] = field(init=False, repr=False, compare=False)
    _num: tuple[Matrix, Matrix, Matrix] = field(init=False, repr=False, compare=False)
    _tables: list[tuple[int, Matrix]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = (set(self.numeric) - set(NUMERIC)) | (set(self.categorical) - set(CATEGORICAL))
        if unknown:
            raise ModelError(f"linear model has features the code does not: {sorted(unknown)}")
        # per column: mean, 1/std (0: adds nothing), weight; per categorical column a table
        cols = [_COLUMNS[n] for n in self.numeric]
        stats = np.array(list(self.numeric.values()), dtype=np.float64).reshape(-1, 3)
        var = stats[:, 1]
        inv = np.divide(1.0, np.sqrt(var), out=np.zeros_like(var), where=var > 0)
        object.__setattr__(self, "_cols", np.array(cols, dtype=np.intp))
        object.__setattr__(self, "_num", (stats[:, 0], inv, stats[:, 2]))
        object.__setattr__(self, "_tables", [_table(n, w) for n, w in self.categorical.items()])

    def fits(self, features: FeatureSet) -> bool:
        """Whether every feature it weighs is one of ``features`` (a model's inputs)."""
        return features.name_set.issuperset(self.numeric) and features.name_set.issuperset(
            self.categorical
        )

    def predict(self, X: Matrix) -> Matrix:
        """Probability per row of the champion's assembled matrix (NaN: missing)."""
        mean, inv, weight = self._num
        z = (X[:, self._cols] - mean) * inv
        terms = np.where(np.isnan(z), 0.0, z * weight)
        logit = terms.sum(axis=1) + self.intercept
        for j, table in self._tables:
            codes = X[:, j]
            known = ~np.isnan(codes) & (codes >= 0) & (codes < len(table) - 1)
            idx = np.where(known, np.nan_to_num(codes), len(table) - 1).astype(np.intp)
            logit += table[idx]
        clipped = np.clip(logit, -_LOGIT_CLAMP, _LOGIT_CLAMP)
        out: Matrix = 1.0 / (1.0 + np.exp(-clipped))
        out[logit < -_LOGIT_CLAMP], out[logit > _LOGIT_CLAMP] = 0.0, 1.0
        return out

    def to_json(self) -> bytes:
        """``model.json``'s bytes (sorted keys: the same model, the same bytes)."""
        doc = {
            "format": FORMAT,
            "kind": KIND,
            "intercept": self.intercept,
            "numeric": {
                n: dict(zip(("mean", "var", "weight"), s, strict=True))
                for n, s in self.numeric.items()
            },
            "categorical": {
                n: {str(c): w for c, w in sorted(ws.items())} for n, ws in self.categorical.items()
            },
        }
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_json(cls, blob: bytes) -> LinearPredictor:
        """Read ``model.json``; ModelError if it is not one."""
        try:
            doc: dict[str, Any] = orjson.loads(blob)
            if doc.get("format") != FORMAT:
                raise ModelError(f"not a {FORMAT} model file (format {doc.get('format')!r})")
            numeric = {
                n: (float(s["mean"]), float(s["var"]), float(s["weight"]))
                for n, s in doc["numeric"].items()
            }
            categorical = {
                n: {int(c): float(w) for c, w in ws.items()} for n, ws in doc["categorical"].items()
            }
            return cls(numeric, categorical, float(doc["intercept"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"cannot read the linear model: {exc!r}") from exc


def _table(name: str, weights: dict[int, float]) -> tuple[int, Matrix]:
    """Column of ``name`` and its weight per code, plus a last 0 for codes without one."""
    if any(c < 0 for c in weights):
        raise ModelError(f"linear model: negative category code for {name}")
    table = np.zeros(max(weights, default=-1) + 2, dtype=np.float64)
    for code, w in weights.items():
        table[code] = w
    return _COLUMNS[name], table
