"""The AUC estimate (CBPE) and the calibration check: the estimate is the realised AUC's
expectation under calibrated scores, equals the O(n²) definition, diverges from the
realised AUC only when the concept moved, and the joiner publishes both and alerts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin
from streams.contract.schemas import validator
from streams.feedback.app import processor_for, snapshot
from streams.feedback.examples import feedback_record, score_record
from streams.model.features import Matrix
from streams.model.metrics import roc_auc
from streams.monitoring.estimate import (
    EstimateConfig,
    PerformanceEstimator,
    calibration,
    expected_auc,
)
from streams.monitoring.quality import OnlineQuality
from streams.ops.metrics import JoinerMetrics

T0 = 1_767_225_600_000
PARTITIONS = 6


def _brute(p: Matrix) -> float:
    """The ratio of expectations over all ordered pairs i != j, ties counting half."""
    num = den = 0.0
    for i, j in itertools.permutations(range(len(p)), 2):
        w = p[i] * (1 - p[j])
        den += w
        num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    return num / den if den > 0 else math.nan


def _scores(rng: np.random.Generator, n: int) -> Matrix:
    """Fraud-like calibrated probabilities: most near 0, a few high."""
    return rng.beta(0.4, 6.0, n)


def test_estimate_is_the_mean_realised_auc_of_calibrated_scores() -> None:
    rng = np.random.default_rng(3)
    p = _scores(rng, 1_000)
    draws = np.array([roc_auc((rng.random(len(p)) < p).astype(float), p) for _ in range(3_000)])
    draws = draws[~np.isnan(draws)]
    standard_error = draws.std() / math.sqrt(len(draws))
    assert abs(expected_auc(p) - draws.mean()) < 4 * standard_error + 0.002


@pytest.mark.parametrize("seed", range(30))
def test_estimate_equals_the_pairwise_definition_ties_too(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 14))
    p = np.round(rng.random(n), 1)  # one decimal: many ties
    if seed % 5 == 0:
        p[:] = p[0]  # all tied
    expected = _brute(p)
    got = expected_auc(p)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_estimate_is_undefined_without_a_possible_pair() -> None:
    assert math.isnan(expected_auc(np.array([0.3])))
    assert math.isnan(expected_auc(np.zeros(5))) and math.isnan(expected_auc(np.ones(5)))


def test_calibration_error_is_small_when_calibrated_and_large_when_not() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(50_000)
    y = (rng.random(len(p)) < p).astype(float)
    good = calibration(y, p)
    assert good.error < 0.01 and good.mean_score == pytest.approx(good.observed_rate, abs=0.01)
    bad = calibration(y, np.sqrt(p))  # overconfident of fraud everywhere
    assert bad.error > 0.1 and bad.mean_score > bad.observed_rate + 0.1


def test_the_window_holds_the_last_scores_whatever_the_batches() -> None:
    rng = np.random.default_rng(8)
    scores = _scores(rng, 5_000)
    est = PerformanceEstimator(EstimateConfig(window=1_000, step=1), lambda v: 0.5)
    at = 0
    for size in itertools.cycle([1, 7, 333, 1_500, 64]):
        if at >= len(scores):
            break
        est.observe("v1", scores[at : at + size])
        at += size
    assert est.snapshot()["v1"]["estimated_auc"] == pytest.approx(expected_auc(scores[-1_000:]))


def _run(concept_shift: bool, seed: int = 1) -> tuple[PerformanceEstimator, list[dict]]:
    """Scores and labels of one version through OnlineQuality and the estimator."""
    rng = np.random.default_rng(seed)
    quality = OnlineQuality(window=1_000, threshold=0.2, cooldown=3_000)
    config = EstimateConfig(window=2_000, step=100, divergence=0.05, labels=1_000, cooldown=3_000)
    est = PerformanceEstimator(config, lambda v: quality.snapshot()[v]["roc_auc"])
    alerts = []
    for chunk in range(20):
        p = _scores(rng, 500)
        est.observe("v1", p)
        # after the shift, fraud no longer follows the score
        truth = rng.permutation(p) if concept_shift and chunk >= 8 else p
        for i, (score, y) in enumerate(zip(p, rng.random(len(p)) < truth, strict=True)):
            origin = Origin("feedback", i % PARTITIONS, chunk * 500 + i)
            quality.update("v1", int(y), float(score), T0 + i, origin)
            alert = est.label("v1", int(y), float(score), T0 + chunk * 500 + i, origin)
            alerts += [alert] if alert else []
    return est, alerts


def test_no_divergence_alert_while_scores_stay_calibrated() -> None:
    for seed in (1, 2, 3):
        est, alerts = _run(concept_shift=False, seed=seed)
        assert alerts == []
        assert est.snapshot()["v1"]["calibration_error"] < 0.05


def test_divergence_alert_fires_when_the_concept_moves_once_per_cooldown() -> None:
    est, alerts = _run(concept_shift=True)
    assert 1 <= len(alerts) <= 2  # 6,000 labels after the shift, 3,000 between alerts
    first = alerts[0]
    assert first["signal"] == "estimate_divergence" and first["detector"] == "CBPE"
    assert first["statistic"] > 0.05 and not first["retrain_requested"]
    assert 4_000 < first["events_seen"] <= 6_000  # within the realised window's turnover
    assert first["window"] == 1_000 and len(first["window_start"]) == PARTITIONS
    assert all(validator("drift_alert").is_valid(a) for a in alerts)
    assert est.alerts == len(alerts)


def _records(i: int, score: float, label: int) -> tuple[InRecord, InRecord]:
    eid = f"e{i}"
    home = partition_for(eid.encode(), PARTITIONS)
    value = score_record(eid, T0 + i, score, model_version="v7")
    score_in = InRecord(Origin("scores", home, i), eid.encode(), orjson.dumps(value))
    fb = orjson.dumps(feedback_record(eid, label, T0 + i))
    return score_in, InRecord(Origin("feedback", home, i), eid.encode(), fb)


def test_the_joiner_publishes_the_estimate_and_alerts_on_divergence() -> None:
    settings = Settings(
        quality_window=500, quality_cooldown=100_000, estimate_window=1_000, estimate_step=100
    )
    p = processor_for(settings, {}, PARTITIONS)
    rng = np.random.default_rng(4)
    scores = _scores(rng, 4_000)
    truth = np.r_[scores[:2_000], rng.permutation(scores[2_000:])]  # the concept moves
    labels = (rng.random(len(scores)) < truth).astype(int)
    alerts = []
    for start in range(0, len(scores), 200):  # batches, scores before their feedback
        pairs = [_records(i, float(scores[i]), int(labels[i])) for i in range(start, start + 200)]
        out = p.handle_batch([(s, True) for s, _ in pairs] + [(f, False) for _, f in pairs], 0)
        alerts += [orjson.loads(r.value) for r in out.records if r.topic == "drift.alerts"]
    mine = [a for a in alerts if a["signal"] == "estimate_divergence"]
    assert len(mine) == 1 and mine[0]["model_version"] == "v7"
    assert 2_000 < mine[0]["events_seen"] <= 2_500
    assert all(validator("drift_alert").is_valid(a) for a in alerts)
    registry = CollectorRegistry()
    JoinerMetrics(registry).observe(snapshot(p))
    estimated = registry.get_sample_value("streamscore_estimated_auc", {"model_version": "v7"})
    assert estimated == pytest.approx(expected_auc(scores[-1_000:]))
    error = registry.get_sample_value("streamscore_calibration_error", {"model_version": "v7"})
    assert error is not None and error > 0
    assert registry.get_sample_value("streamscore_estimate_divergence_alerts_total") == 1
