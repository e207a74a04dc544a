"""The scorer's pure core, in memory: one output per input, DLQ bytes untouched,
records valid against their schemas, the fallback path, decisions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from unittest.mock import create_autospec

import lightgbm as lgb
import numpy as np
import orjson
import pytest

from streams.contract.dead_letters import H_OFFSET, H_PARTITION, H_REASON, H_TOPIC
from streams.contract.records import InRecord, Origin, header
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.messy import MessySpec
from streams.model.artifact import Model, load_model
from streams.model.features import FEATURE_NAMES, INTEGRAL_INDEX
from streams.scoring.pipeline import FALLBACK_VERSION, PipelineConfig, ScoringPipeline, decide

MODELS = Path(__file__).resolve().parent.parent / "models"

# what each messy kind must be rejected as (valid kinds are scored)
EXPECTED_REASON = {
    "missing_required": {"missing_field"},
    "null_required": {"missing_field"},
    "wrong_type": {"wrong_type"},
    "out_of_range": {"out_of_range"},
    "malformed_json": {"malformed_json"},
    "not_utf8": {"not_utf8"},
    "empty_payload": {"empty_payload"},
}


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODELS)


def _batch(count: int, fraction: float, seed: int = 11) -> tuple[list[InRecord], list]:
    config = GeneratorConfig(seed=seed, count=count, messy=MessySpec(fraction))
    gen = [r for r in generate(config) if r.topic == "events"]
    batch = [
        InRecord(Origin("events", i % 3, i, 1_000 + i), r.key, r.value) for i, r in enumerate(gen)
    ]
    return batch, gen


def test_one_output_per_input_with_the_right_destination(model: Model) -> None:
    batch, gen = _batch(3_000, 0.3)
    result = ScoringPipeline(model, PipelineConfig()).process(batch, now_ms=5)
    assert len(result.records) == len(batch)
    for rec, src, out in zip(batch, gen, result.records, strict=True):
        if src.valid:
            assert out.topic == "scores"
            value = orjson.loads(out.value)
            assert (
                out.key
                == value["event_id"].encode()
                == orjson.loads(src.value)["event_id"].encode()
            )
            assert value["source"] == {
                "topic": "events",
                "partition": rec.origin.partition,
                "offset": rec.origin.offset,
            }
        else:
            assert out.topic == "events.dlq"
            assert (out.key, out.value) == (rec.key, rec.value)  # byte-identical
            assert header(out.headers, H_REASON) in EXPECTED_REASON[src.messy_kind]
            assert header(out.headers, H_TOPIC) == "events"
            assert header(out.headers, H_PARTITION) == str(rec.origin.partition)
            assert header(out.headers, H_OFFSET) == str(rec.origin.offset)
    assert result.scored == sum(g.valid for g in gen)
    assert sum(result.dead_letters.values()) == sum(not g.valid for g in gen)


def test_score_records_match_their_schema(model: Model) -> None:
    batch, _ = _batch(500, 0.1)
    result = ScoringPipeline(model, PipelineConfig()).process(batch, now_ms=5)
    scores = [orjson.loads(r.value) for r in result.records if r.topic == "scores"]
    assert scores
    for value in scores:
        errors = list(validator("score").iter_errors(value))
        assert not errors, errors[0].message
        assert value["model_version"] == model.version and value["fallback"] is False


def test_score_features_are_the_model_inputs(model: Model) -> None:
    batch, _ = _batch(2_000, 1.0)  # every messy kind: missing values, unseen levels
    result = ScoringPipeline(model, PipelineConfig()).process(batch, now_ms=5)
    written = [orjson.loads(r.value)["features"] for r in result.records if r.topic == "scores"]
    X = np.array([list(f.values()) for f in written], dtype=np.float64)  # null -> NaN
    assert [list(f) for f in written[:1]] == [FEATURE_NAMES]
    assert X.shape == result.features.shape and np.isnan(X).any()
    assert np.array_equal(X, result.features, equal_nan=True)
    for j in INTEGRAL_INDEX:  # whole numbers are written as JSON integers
        assert {type(f[FEATURE_NAMES[j]]) for f in written} <= {int, type(None)}


def test_unseen_categories_are_scored_not_rejected(model: Model) -> None:
    batch, gen = _batch(2_000, 1.0)
    result = ScoringPipeline(model, PipelineConfig()).process(batch, now_ms=0)
    unseen = [
        o for o, g in zip(result.records, gen, strict=True) if g.messy_kind == "unknown_category"
    ]
    assert unseen and all(o.topic == "scores" for o in unseen)


def test_failing_model_falls_back_and_says_so(model: Model) -> None:
    booster = create_autospec(lgb.Booster, spec_set=True, instance=True)
    booster.predict.side_effect = RuntimeError("model exploded")
    broken = Model(model.version, booster, model.manifest, model.assembler)
    batch, _gen = _batch(300, 0.0)
    result = ScoringPipeline(broken, PipelineConfig()).process(batch, now_ms=0)
    values = [orjson.loads(r.value) for r in result.records]
    assert result.fallback == len(batch) == len(values)
    assert all(v["fallback"] is True and v["model_version"] == FALLBACK_VERSION for v in values)
    assert len({v["score"] for v in values}) > 1  # rules, not a constant
    booster.predict.assert_called_once()


def test_no_model_scores_by_rules() -> None:
    batch, _ = _batch(200, 0.0)
    result = ScoringPipeline(None, PipelineConfig()).process(batch, now_ms=0)
    assert result.fallback == result.scored == 200


def test_model_and_fallback_both_rank_fraud_higher(model: Model) -> None:
    config = GeneratorConfig(seed=5, count=20_000)
    gen = [r for r in generate(config) if r.topic == "events"]
    batch = [InRecord(Origin("events", 0, i), r.key, r.value) for i, r in enumerate(gen)]
    labels = np.array([r.label for r in gen])
    for m in (model, None):
        result = ScoringPipeline(m, PipelineConfig()).process(batch, now_ms=0)
        assert result.scores[labels == 1].mean() > 2 * result.scores[labels == 0].mean()


def test_decide_bands() -> None:
    scores = np.array([0.0, 0.19, 0.2, 0.59, 0.6, 1.0])
    assert decide(scores, 0.2, 0.6) == [
        "approve",
        "approve",
        "review",
        "review",
        "decline",
        "decline",
    ]
    assert Counter(decide(scores, 0.0, 1.0)) == Counter({"review": 5, "decline": 1})
