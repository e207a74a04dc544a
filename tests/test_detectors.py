"""The rolling quality metrics agree with River's definitions (River's rolling wrapper
is the reference the ring buffers replace)."""

from __future__ import annotations

import random

import pytest
from river import metrics, utils

from streams.monitoring.detectors import RollingMetric

REFERENCE = {"log_loss": metrics.LogLoss, "precision": metrics.Precision, "recall": metrics.Recall}


@pytest.mark.parametrize("kind", sorted(REFERENCE))
def test_ring_buffer_metrics_match_rivers_rolling_ones(kind: str) -> None:
    rng = random.Random(kind)
    ours, theirs = RollingMetric(kind, 50, threshold=0.2), utils.Rolling(REFERENCE[kind], 50)
    assert ours.get() == theirs.get() == 0.0  # nothing yet
    for _ in range(2_000):
        label = rng.random() < 0.1
        score = rng.choice([0.0, 1.0, rng.random(), rng.random() ** 4])
        ours.update(int(label), score)
        theirs.update(label, score if kind == "log_loss" else score >= 0.2)
        assert ours.get() == pytest.approx(theirs.get(), abs=1e-9)
