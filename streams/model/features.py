"""Feature assembly: validated event dicts → the model's numeric matrix, per batch.

The order of :data:`FEATURES` is the model's input order; the model manifest
records it and :mod:`streams.model.artifact` refuses to start if the model disagrees.

Missing values (absent or null optional fields) become NaN, which LightGBM
handles natively. A category level the model never saw gets the code
``len(levels)``: a code that is in no split's category set, so LightGBM scores it
as "other" instead of the event being rejected.

>>> asm = FeatureAssembler({"currency": ("EUR",), "channel": ("pos", "ecom"),
...                         "merchant_category": (), "country": ()})
>>> X = asm.assemble([{"event_time": 0, "amount": 10.0, "currency": "EUR",
...                    "channel": "ecom"}])
>>> X.shape == (1, len(FEATURES)), float(X[0, FEATURE_NAMES.index("channel")])
(True, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from streams.contract.events import FIELDS, ROW_INDEX, row_of
from streams.model.velocity import VELOCITY_FEATURES

FeatureKind = Literal["numeric", "categorical"]
FeatureSource = Literal["event", "computed"]
Matrix = npt.NDArray[np.float64]

_MS_PER_HOUR = 3_600_000


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input column: from the event, or computed from the account's earlier
    events (:mod:`streams.model.velocity`)."""

    name: str
    kind: FeatureKind
    source: FeatureSource = "event"


FEATURES: tuple[Feature, ...] = (
    Feature("amount", "numeric"),
    Feature("log_amount_ratio", "numeric"),  # log1p(amount) - log1p(avg_amount_30d)
    Feature("hour_of_day", "numeric"),  # UTC hour of event_time
    Feature("account_age_days", "numeric"),
    Feature("txn_count_1h", "numeric"),
    Feature("txn_count_24h", "numeric"),
    Feature("avg_amount_30d", "numeric"),
    Feature("distance_from_home_km", "numeric"),
    Feature("card_present", "numeric"),
    Feature("is_new_device", "numeric"),
    Feature("is_foreign_ip", "numeric"),
    Feature("currency", "categorical"),
    Feature("channel", "categorical"),
    Feature("merchant_category", "categorical"),
    Feature("country", "categorical"),
)
FEATURE_NAMES: list[str] = [f.name for f in FEATURES]
CATEGORICAL: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "categorical")
CATEGORICAL_INDEX: list[int] = [i for i, f in enumerate(FEATURES) if f.kind == "categorical"]
INTEGRAL_INDEX: list[int] = [
    i
    for i, f in enumerate(FEATURES)
    if f.kind == "categorical"
    or f.name == "hour_of_day"
    or (f.name in FIELDS and FIELDS[f.name].kind in ("integer", "boolean"))
]
"""Columns that only hold whole numbers (or NaN): codes, counts, flags, the hour."""
COMPUTED: tuple[Feature, ...] = tuple(Feature(n, "numeric", "computed") for n in VELOCITY_FEATURES)
"""The velocity features, after the event's own in a model that uses them."""
_WHOLE_COMPUTED = {"count_1m", "count_1h", "count_24h", "merchant_categories_24h", "countries_24h"}


@dataclass(frozen=True)
class FeatureSet:
    """A model's inputs in its order: the event's own (:data:`FEATURES`), and then the
    computed ones (:data:`COMPUTED`) if it uses them. The manifest names them.

    >>> feature_set([f.name for f in FEATURES]) is EVENT_SET, len(VELOCITY_SET.names)
    (True, 25)
    """

    features: tuple[Feature, ...]
    names: list[str] = field(init=False)
    name_set: frozenset[str] = field(init=False)
    integral_index: list[int] = field(init=False)
    computed: int = field(init=False)  # how many computed columns come last

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", [f.name for f in self.features])
        object.__setattr__(self, "name_set", frozenset(self.names))
        whole = [j for j, f in enumerate(self.features) if f.name in _WHOLE_COMPUTED]
        object.__setattr__(self, "integral_index", INTEGRAL_INDEX + whole)
        object.__setattr__(self, "computed", sum(f.source == "computed" for f in self.features))


EVENT_SET = FeatureSet(FEATURES)
VELOCITY_SET = FeatureSet(FEATURES + COMPUTED)


def feature_set(names: Sequence[str]) -> FeatureSet:
    """The feature set whose names these are, in this order (ValueError if none is)."""
    for known in (EVENT_SET, VELOCITY_SET):
        if list(names) == known.names:
            return known
    raise ValueError(
        f"features {list(names)} differ from the code's: neither the event's own nor "
        "those followed by the velocity features, in order"
    )


def feature_set_of_width(width: int) -> FeatureSet:
    """The feature set of a row of ``width`` values (the sets' widths differ).

    >>> feature_set_of_width(25) is VELOCITY_SET
    True
    """
    for known in (EVENT_SET, VELOCITY_SET):
        if width == len(known.names):
            return known
    raise ValueError(f"no feature set has {width} features")


CONTRACT_LEVELS: dict[str, list[str]] = {name: list(FIELDS[name].levels) for name in CATEGORICAL}
"""The event contract's known levels: what a model is trained with."""

# Fields copied as they are (numbers, or booleans as 0/1); None/absent -> NaN.
_PLAIN = (
    "amount",
    "account_age_days",
    "txn_count_1h",
    "txn_count_24h",
    "avg_amount_30d",
    "distance_from_home_km",
    "card_present",
    "is_new_device",
    "is_foreign_ip",
)
_NAN = math.nan


class FeatureAssembler:
    """Turns a batch of *validated* events into a float64 matrix in :data:`FEATURES` order.

    ``levels`` maps each categorical feature to its known levels (from the model
    manifest); the code of a level is its index, unseen levels get ``len(levels)``.
    """

    def __init__(
        self, levels: Mapping[str, Sequence[str]], features: FeatureSet | None = None
    ) -> None:
        self.features = features or EVENT_SET
        missing = set(CATEGORICAL) - set(levels)
        if missing:
            raise ValueError(f"levels missing for categorical features: {sorted(missing)}")
        self._codes = {name: {lv: i for i, lv in enumerate(levels[name])} for name in CATEGORICAL}
        # the same, plus None (a missing value) -> NaN: one dict lookup per value
        self._codes_or_nan: dict[str, dict[str | None, float]] = {
            name: {None: _NAN} | {lv: float(i) for lv, i in codes.items()}
            for name, codes in self._codes.items()
        }
        self.levels = {name: tuple(levels[name]) for name in CATEGORICAL}

    def unseen_code(self, feature: str) -> int:
        """The code given to a level of ``feature`` the model never saw."""
        return len(self._codes[feature])

    def assemble(
        self, events: Sequence[Mapping[str, Any]], computed: Matrix | None = None
    ) -> Matrix:
        """Build the matrix from validated event dicts (see :meth:`assemble_rows`)."""
        return self.assemble_rows([row_of(e) for e in events], computed)

    def assemble_rows(
        self, rows: Sequence[Sequence[Any]], computed: Matrix | None = None
    ) -> Matrix:
        """Build the matrix from event rows (field values in contract order, None if missing)
        and, for a model that uses them, the computed features (a row each; None: missing).

        One code path for training (dicts) and scoring (rows), so they cannot skew.
        """
        n = len(rows)
        X = np.empty((n, len(self.features.names)), dtype=np.float64)
        if self.features.computed:
            X[:, len(FEATURES) :] = np.nan if computed is None else computed
        if n == 0:
            return X
        by_field = list(zip(*rows, strict=True))  # rows to columns in one C-level pass
        # numpy turns None into NaN and booleans into 0/1 in a float64 array
        cols = {name: np.array(by_field[ROW_INDEX[name]], dtype=np.float64) for name in _PLAIN}
        times = np.array(by_field[ROW_INDEX["event_time"]], dtype=np.int64)
        cols["hour_of_day"] = ((times // _MS_PER_HOUR) % 24).astype(np.float64)
        with np.errstate(invalid="ignore"):
            cols["log_amount_ratio"] = np.log1p(cols["amount"]) - np.log1p(cols["avg_amount_30d"])
        for name in CATEGORICAL:
            get, unseen = self._codes_or_nan[name].get, repeat(self.unseen_code(name), n)
            # map over two iterables: the lookups run in C, no Python frame per value
            cols[name] = np.array(list(map(get, by_field[ROW_INDEX[name]], unseen)), np.float64)
        for j, name in enumerate(FEATURE_NAMES):
            X[:, j] = cols[name]
        return X
