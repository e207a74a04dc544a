"""The promotion gate: the fast bootstrap AUC is roc_auc on the resampled events, the
verdicts, the interval's coverage, and ``promote --gate`` over Kafka records."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streams.cli import main
from streams.config import Settings
from streams.contract.records import OutRecord
from streams.contract.schemas import validator
from streams.kafka import publish
from streams.kafka.embedded import EmbeddedBroker
from streams.lifecycle.evidence import ShadowScores, paired_scores
from streams.lifecycle.gate import _multiplicities, _Ranked, bootstrap_diffs, gate_evidence
from streams.lifecycle.labelled_data import LabelledRow
from streams.model import history as hist
from streams.model import registry as reg
from streams.model.features import FEATURE_NAMES
from streams.model.metrics import roc_auc
from tests.test_registry import add_version

GATE = {"min_labels": 200, "margin": 0.0, "confidence": 0.95, "resamples": 300}


def simulate(
    n: int, shift_champion: float, shift_challenger: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (20% positive) and two models' scores: positives shifted up by ``shift``."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.float64)
    a = rng.normal(size=n) + shift_champion * y
    b = rng.normal(size=n) + shift_challenger * y
    return y, a, b


def test_bootstrap_auc_is_roc_auc_on_the_resampled_events() -> None:
    rng = np.random.default_rng(3)
    n = 500
    y = (rng.random(n) < 0.3).astype(np.float64)
    scores = np.round(rng.random(n) + 0.3 * y, 1)  # many ties
    pos_w = _multiplicities(rng, np.flatnonzero(y == 1), n, 5)
    neg_w = _multiplicities(rng, np.flatnonzero(y == 0), n, 5)
    fast = _Ranked(scores).auc(pos_w, neg_w)
    for row in range(5):
        drawn = np.repeat(np.arange(n), (pos_w[row] + neg_w[row]).astype(int))
        assert len(drawn) == n and y[drawn].sum() == y.sum()  # stratified: classes kept
        assert fast[row] == pytest.approx(roc_auc(y[drawn], scores[drawn]), abs=1e-12)


def test_a_clearly_better_challenger_passes() -> None:
    ev = gate_evidence(*simulate(3000, 1.0, 2.0, seed=1), **GATE)
    assert ev.passed and ev.ci_low > 0 and ev.ci_low < ev.diff < ev.ci_high
    assert (ev.n, ev.resamples, ev.confidence) == (3000, 300, 0.95)
    assert 0 < ev.positives < ev.n and "lower bound" in ev.reason


@pytest.mark.parametrize(("champion", "challenger"), [(1.5, 1.5), (1.5, 1.0)])
def test_an_equal_or_worse_challenger_fails(champion: float, challenger: float) -> None:
    y, a, b = simulate(3000, champion, challenger, seed=2)
    assert not gate_evidence(y, a, b, **GATE).passed
    assert not gate_evidence(y, a, a.copy(), **GATE).passed  # identical scores: diff 0


def test_the_margin_is_required() -> None:
    y, a, b = simulate(3000, 1.0, 2.0, seed=1)
    assert not gate_evidence(y, a, b, **{**GATE, "margin": 0.5}).passed


def test_too_few_labels_or_one_class_fail() -> None:
    y, a, b = simulate(150, 0.0, 3.0, seed=4)
    few = gate_evidence(y, a, b, **GATE)
    assert not few.passed and "too few labels" in few.reason and math.isnan(few.ci_low)
    assert few.as_dict()["ci_low"] is None and orjson.dumps(few.as_dict())
    ones = gate_evidence(np.ones(300), a[:1].repeat(300), a[:1].repeat(300), **GATE)
    assert not ones.passed and "one class" in ones.reason


def test_deterministic_for_a_seed() -> None:
    y, a, b = simulate(1000, 1.0, 1.2, seed=5)
    first = bootstrap_diffs(y, a, b, 200, seed=9)
    assert np.array_equal(first, bootstrap_diffs(y, a, b, 200, seed=9))
    assert not np.array_equal(first, bootstrap_diffs(y, a, b, 200, seed=10))


def test_the_interval_contains_the_true_difference() -> None:
    # positives shifted by d, unit-variance normals: AUC = Phi(d / sqrt 2)
    def true_auc(d: float) -> float:
        return 0.5 * (1 + math.erf(d / 2))

    truth = true_auc(1.4) - true_auc(1.0)
    runs = 40
    covered = 0
    for seed in range(runs):
        ev = gate_evidence(*simulate(2000, 1.0, 1.4, seed=100 + seed), **{**GATE, "resamples": 200})
        covered += ev.ci_low <= truth <= ev.ci_high
    assert covered >= 33  # nominal 95%: 38 of 40 expected


def test_fast_enough() -> None:
    y, a, b = simulate(20_000, 1.0, 1.1, seed=6)
    t0 = time.perf_counter()
    gate_evidence(y, a, b, **{**GATE, "resamples": 1000})
    assert time.perf_counter() - t0 < 10  # ~1.5 s alone on one core


def row(event_id: str, label: int, version: str, score: float) -> LabelledRow:
    return LabelledRow(event_id, "acct-1", 0, label, version, score, ())


def test_paired_scores_from_deciding_and_shadow_scores() -> None:
    rows = {
        "e1": row("e1", 1, "v1", 0.7),
        "e2": row("e2", 0, "v2", 0.2),  # a canary decided: v1's score is a shadow record
        "e3": row("e3", 0, "v1", 0.1),  # v2 did not score it
        "e4": row("e4", 1, "fallback-rules", 0.5),
    }
    shadow = ShadowScores(rows, {"v1", "v2"})
    for value in (
        b'{"event_id": "e1", "model_version": "v2", "event_time": 1, "score": 0.9}',
        b'{"event_id": "e2", "model_version": "v1", "event_time": 1, "score": 0.4}',
        b'{"event_id": "e4", "model_version": "v2", "event_time": 1, "score": 0.8}',
        b'{"event_id": "e9", "model_version": "v2", "event_time": 1, "score": 0.8}',  # not labelled
        # another version:
        b'{"event_id": "e1", "model_version": "v3", "event_time": 1, "score": 0.8}',
        b"{",
        b'{"event_id": "e1"}',
    ):
        shadow.add(value)
    assert shadow.skipped == 2
    labels, a, b = paired_scores(rows, shadow.scores, "v1", "v2")
    assert labels.tolist() == [1.0, 0.0] and a.tolist() == [0.7, 0.4] and b.tolist() == [0.9, 0.2]


# --- promote --gate over Kafka -------------------------------------------------------------


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        b.create_topics(["labelled", "scores.shadow"])
        yield b


def _labelled(event_id: str, label: int, score: float) -> dict[str, Any]:
    return {
        "event_id": event_id, "account_id": "acct-1", "features": dict.fromkeys(FEATURE_NAMES, 0.0),
        "score": score, "decision": "approve", "model_version": "v1", "label": label,
        "label_source": "chargeback", "feedback_id": f"fb-{event_id}", "event_time": 1000,
        "score_time": 1001, "label_time": 2000, "label_delay_ms": 1000, "correction": False,
        "previous_label": None,
    }  # fmt: skip


def _shadow(event_id: str, score: float, deciding: float) -> dict[str, Any]:
    return {
        "event_id": event_id, "account_id": "acct-1", "event_time": 1000, "model_version": "v2",
        "role": "shadow", "score": score, "decision": "approve", "deciding_version": "v1",
        "deciding_score": deciding, "scored_at": 1001,
        "source": {"topic": "events", "partition": 0, "offset": 1},
    }  # fmt: skip


def publish_scores(bootstrap: str, challenger_better: bool, n: int = 400) -> None:
    """Labelled records scored by v1 and scores.shadow records of v2, schema-valid."""
    y, a, b = simulate(n, 1.0, 3.0 if challenger_better else 0.3, seed=8)
    to_p = lambda s: 1 / (1 + math.exp(-s))  # noqa: E731
    records = []
    for i in range(n):
        eid = f"ev-{i}"
        lab = _labelled(eid, int(y[i]), to_p(a[i]))
        sha = _shadow(eid, to_p(b[i]), to_p(a[i]))
        assert validator("labelled").is_valid(lab) and validator("score_shadow").is_valid(sha)
        records.append(OutRecord("labelled", eid.encode(), orjson.dumps(lab)))
        records.append(OutRecord("scores.shadow", eid.encode(), orjson.dumps(sha)))
    assert publish(Settings(bootstrap_servers=bootstrap), records) == 2 * n


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    add_version(model_dir, "v1")
    add_version(model_dir, "v2")
    (model_dir / "CURRENT").write_text("v1\n")
    return model_dir


def promote(models: Path, broker: EmbeddedBroker, *flags: str) -> int:
    settings = ["--bootstrap-servers", broker.bootstrap, "--gate-min-labels", "200"]
    settings += ["--gate-resamples", "200", "--model-dir", str(models), "--actor", "ops"]
    return main(["models", "promote", "v2", "--gate", *flags, *settings])


def test_promote_gate_passes_a_better_challenger(
    models: Path, broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_scores(broker.bootstrap, challenger_better=True)
    assert promote(models, broker, "--reason", "gate") == 0
    assert "gate passed" in capsys.readouterr().out
    assert reg.champion(models) == "v2"
    entry = hist.read_history(models).entries[-1]
    assert entry["evidence"]["passed"] is True and entry["evidence"]["n"] == 400
    assert entry["forced"] is False and entry["reason"] == "gate"


def test_promote_gate_refuses_a_worse_challenger_unless_forced(
    models: Path, broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_scores(broker.bootstrap, challenger_better=False)
    before = sorted(p.name for p in models.iterdir())
    assert promote(models, broker) == 1
    captured = capsys.readouterr()
    assert "gate failed" in captured.out and "refused by the gate" in captured.err
    assert reg.champion(models) == "v1" and sorted(p.name for p in models.iterdir()) == before
    assert promote(models, broker, "--force", "--reason", "incident 42") == 0
    entry = hist.read_history(models).entries[-1]
    assert entry["forced"] is True and entry["evidence"]["passed"] is False
    assert reg.champion(models) == "v2"


def test_promote_gate_on_the_embedded_default_has_no_labels(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in models.iterdir())
    argv = ["models", "promote", "v2", "--gate", "--model-dir", str(models)]
    assert main([*argv, "--bootstrap-servers", "embedded"]) == 1
    assert "too few labels both versions scored: 0 < 1000" in capsys.readouterr().out
    assert sorted(p.name for p in models.iterdir()) == before
