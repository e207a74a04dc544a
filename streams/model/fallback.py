"""The rule-based fallback score, used when the model cannot load or a prediction fails.

Documented in docs/models.md: a few transparent rules on the same assembled features,
so the scorer never stops and never drops events; every record it produces says
``"fallback": true`` and a metric counts them.

>>> from streams.model.features import CONTRACT_LEVELS, FeatureAssembler
>>> asm = FeatureAssembler(CONTRACT_LEVELS)
>>> X = asm.assemble([{"event_time": 0, "amount": 900.0, "avg_amount_30d": 50.0,
...                    "is_new_device": True, "currency": "EUR", "channel": "ecom"}])
>>> round(float(rule_scores(X, asm)[0]), 2)
0.82
"""

from __future__ import annotations

import math

import numpy as np

from streams.contract.events import REMOTE_CHANNELS, RISKY_MERCHANT_CATEGORIES
from streams.model.features import FEATURE_NAMES, FeatureAssembler, Matrix

FALLBACK_VERSION = "fallback-rules"
"""The ``model_version`` of scores made by these rules."""
BASE = 0.02


def _col(X: Matrix, name: str) -> Matrix:
    return X[:, FEATURE_NAMES.index(name)]


def _codes(assembler: FeatureAssembler, feature: str, levels: tuple[str, ...]) -> list[int]:
    known = assembler.levels[feature]
    return [known.index(lv) for lv in levels if lv in known]


def rule_scores(X: Matrix, assembler: FeatureAssembler) -> Matrix:
    """Score an assembled batch by rules: base rate plus fixed bumps, capped at 0.99.

    Rules (NaN never triggers one): amount over 5x the 30-day average +0.35; new
    device +0.20; remote channel (ecom, moto) +0.15; risky merchant category +0.15;
    night (00-05 UTC) +0.10.
    """
    score = np.full(X.shape[0], BASE)
    score += 0.35 * (_col(X, "log_amount_ratio") > math.log(5.0))
    score += 0.20 * (_col(X, "is_new_device") == 1.0)
    score += 0.15 * np.isin(_col(X, "channel"), _codes(assembler, "channel", REMOTE_CHANNELS))
    score += 0.15 * np.isin(
        _col(X, "merchant_category"),
        _codes(assembler, "merchant_category", RISKY_MERCHANT_CATEGORIES),
    )
    score += 0.10 * (_col(X, "hour_of_day") < 6.0)
    out: Matrix = np.minimum(score, 0.99)
    return out
