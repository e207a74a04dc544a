"""Reason codes: which features pushed a score up, from exact per-feature contributions.

A LightGBM model's contributions are TreeSHAP values (``pred_contrib``): per event, one
number per feature in log-odds, plus the model's expected value (the base), summing
exactly to the event's raw score (its margin; the score is its sigmoid). The reasons of
a score are its ``top_k`` features with the largest contributions, largest first, each
with its value as the event gave it (a category's level, not its code) and its
contribution. The code is the feature's name: stable across model versions.

Only the rows that need reasons are explained (by default the review and decline
decisions), per batch. With compiled trees (``predictor`` auto or compiled) the values
come from native TreeSHAP tables (:mod:`streams.model.treeshap`, ~18 µs per explained
event with the default model); otherwise from LightGBM's ``pred_contrib`` (~170 µs). Both
are exact; the ``reasons`` stage of ``python -m bench.throughput`` measures it in place.

>>> import numpy as np
>>> contrib = np.array([[0.1, -0.3, 0.5, -2.0], [0.0, 0.2, -0.1, -2.0]])
>>> values = [[10.0, "web", 3], [0.0, "pos", None]]
>>> [[(r.feature, r.value, r.contribution) for r in rs]
...  for rs in top_reasons(contrib, values, ["amount", "channel", "hour"], 2)]
[[('hour', 3, 0.5), ('amount', 10.0, 0.1)], [('channel', 'pos', 0.2), ('amount', 0.0, 0.0)]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from streams.config import ReasonsMode
from streams.contract.events import ROW_INDEX
from streams.model.artifact import Model
from streams.model.features import CATEGORICAL_INDEX, FEATURE_NAMES, Matrix


class Reason(msgspec.Struct):
    """One reason of a score: the feature, its value, its contribution (log-odds)."""

    feature: str
    value: float | int | str | None
    contribution: float


def explained_rows(decisions: Sequence[str], mode: ReasonsMode) -> list[int]:
    """The positions of the scores to explain.

    >>> explained_rows(["approve", "review", "decline"], "flagged")
    [1, 2]
    """
    if mode == "off":
        return []
    if mode == "all":
        return list(range(len(decisions)))
    return [i for i, d in enumerate(decisions) if d != "approve"]


def top_reasons(
    contrib: Matrix,
    values: Sequence[Sequence[float | int | str | None]],
    names: Sequence[str],
    top_k: int,
) -> list[list[Reason]]:
    """Per row of ``contrib`` (features then the base, as ``pred_contrib`` gives them),
    its ``top_k`` reasons; ties keep the features' order."""
    per_feature = contrib[:, : len(names)]
    k = min(top_k, len(names))
    # stable sort of the negated values: the largest first, ties in feature order
    order = np.argsort(-per_feature, axis=1, kind="stable")[:, :k].tolist()
    floats = per_feature.tolist()
    return [
        [Reason(names[j], row_values[j], row[j]) for j in picks]
        for picks, row, row_values in zip(order, floats, values, strict=True)
    ]


def margin_of(score: float) -> float:
    """The raw score (log-odds) whose sigmoid is ``score``: what the base and every
    feature's contribution sum to.

    >>> round(margin_of(0.5), 9), round(margin_of(0.8807970779778823), 9)
    (0.0, 2.0)
    """
    return float(np.log(score) - np.log1p(-score))


Explained = tuple[list[Reason], float]
"""A score's reasons and the model's base (log-odds)."""


def explain(
    model: Model, X: Matrix, values: Sequence[Sequence[float | int | str | None]], top_k: int
) -> list[Explained] | None:
    """The reasons of each row of ``X`` by ``model`` (None: it has no trees to explain)."""
    contrib = model.contributions(X)
    if contrib is None:
        return None
    bases = contrib[:, -1].tolist()
    reasons = top_reasons(contrib, values, model.features.names, top_k)
    return list(zip(reasons, bases, strict=True))


def reason_values(
    features: Sequence[float | int | None], row: Sequence[Any]
) -> list[float | int | str | None]:
    """A score's feature values for its reasons: the model's inputs, with each category's
    level as the event gave it instead of its code."""
    values: list[float | int | str | None] = list(features)
    for j, field in _CATEGORY_FIELDS:
        values[j] = row[field]
    return values


_CATEGORY_FIELDS = [(j, ROW_INDEX[FEATURE_NAMES[j]]) for j in CATEGORICAL_INDEX]
