"""Reason codes through a scorer process on the real broker (exactly-once, as shipped):
read back read_committed, review and decline scores carry reasons and approve scores
none, every score valid against the schema, and the base plus every feature's
contribution is the score's log-odds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import child_env, isolated_settings, wait_for

from bench.junk_throughput import fill
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, read_topic
from streams.model.features import FEATURE_NAMES
from streams.model.reasons import margin_of

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent


def test_flagged_scores_carry_exact_reasons(real_broker: RealBroker) -> None:
    settings = isolated_settings(
        real_broker.bootstrap,
        topic_partitions=2,
        scorer_instance_id="a",
        metrics_port=0,
        reasons_top_k=len(FEATURE_NAMES),  # every feature: the sum can be checked
    )
    events = [r for r in generate(GeneratorConfig(seed=72, count=4_000)) if r.topic == "events"]
    fill(settings, ((r.key, r.value, None) for r in events))
    scorer = subprocess.Popen(
        [sys.executable, "-m", "streams", "score"], env=child_env(settings), cwd=ROOT
    )
    try:
        group, topic = settings.scorer_group_id, settings.topic_events
        wait_for(
            lambda: (
                committed_total(settings, group, topic) == len(events) or scorer.poll() is not None
            ),
            120,
            "the scorer to commit every event",
        )
        assert scorer.poll() is None, f"the scorer ended: {scorer.returncode}"
    finally:
        scorer.terminate()
        assert scorer.wait(60) == 0
    scores = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_scores)]
    assert len(scores) == sum(e.valid for e in events)
    flagged = [s for s in scores if s["decision"] != "approve"]
    assert 0 < len(flagged) < len(scores)
    for s in scores:
        errors = list(validator("score").iter_errors(s))
        assert not errors, errors[0].message
        if s["decision"] == "approve":
            assert "reasons" not in s and "reasons_base" not in s
            continue
        assert sorted(r["feature"] for r in s["reasons"]) == sorted(FEATURE_NAMES)
        total = s["reasons_base"] + sum(r["contribution"] for r in s["reasons"])
        assert abs(total - margin_of(s["score"])) < 1e-6
