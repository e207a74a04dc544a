"""Reason codes in the pure pipeline: present exactly for the selected decisions, exact
(base plus every contribution is the score's log-odds), ranked, valid against the score
schema, and from the model that decided (a canary's for its accounts, none for rules)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson
import pytest

from streams.config import ReasonsMode
from streams.contract.records import InRecord, Origin
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.training import TrainConfig, train
from streams.model.artifact import Model, load_model
from streams.model.features import CATEGORICAL, FEATURE_NAMES
from streams.model.reasons import margin_of
from streams.scoring.challengers import LoadedChallenger
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODELS)


def _batch(count: int = 4_000, seed: int = 27) -> list[InRecord]:
    gen = [r for r in generate(GeneratorConfig(seed=seed, count=count)) if r.topic == "events"]
    return [InRecord(Origin("events", 0, i, 1_000 + i), r.key, r.value) for i, r in enumerate(gen)]


def _scores(pipe: ScoringPipeline, batch: list[InRecord]) -> list[dict[str, Any]]:
    result = pipe.process(batch, now_ms=5)
    return [orjson.loads(r.value) for r in result.records if r.topic == "scores"]


def _run(model: Model, mode: ReasonsMode, top_k: int = 3) -> list[dict[str, Any]]:
    config = PipelineConfig(reasons=mode, reasons_top_k=top_k)
    return _scores(ScoringPipeline(model, config), _batch())


def test_flagged_scores_and_only_those_carry_reasons(model: Model) -> None:
    scores = _run(model, "flagged")
    flagged = [s for s in scores if s["decision"] != "approve"]
    assert flagged and len(flagged) < len(scores)  # the batch has both kinds
    assert all(len(s["reasons"]) == 3 and "reasons_base" in s for s in flagged)
    assert not any("reasons" in s or "reasons_base" in s for s in scores if s not in flagged)


def test_all_and_off(model: Model) -> None:
    assert all("reasons" in s for s in _run(model, "all"))
    assert not any("reasons" in s for s in _run(model, "off"))


def test_base_and_every_contribution_sum_to_the_margin(model: Model) -> None:
    scores = _run(model, "all", top_k=len(FEATURE_NAMES))
    for s in scores:
        total = s["reasons_base"] + sum(r["contribution"] for r in s["reasons"])
        assert abs(total - margin_of(s["score"])) < 1e-6
        assert sorted(r["feature"] for r in s["reasons"]) == sorted(FEATURE_NAMES)


def test_reasons_are_the_largest_contributions_with_the_events_values(model: Model) -> None:
    every = {s["event_id"]: s for s in _run(model, "all", top_k=len(FEATURE_NAMES))}
    flagged = [s for s in _run(model, "flagged", top_k=3) if s["decision"] != "approve"]
    assert flagged
    for s in flagged:
        ranked = every[s["event_id"]]["reasons"]
        assert s["reasons"] == ranked[:3]
        contributions = [r["contribution"] for r in ranked]
        assert contributions == sorted(contributions, reverse=True)
        for r in s["reasons"]:
            if r["feature"] in CATEGORICAL:
                assert r["value"] is None or isinstance(r["value"], str)  # the level
            else:
                assert r["value"] == s["features"][r["feature"]]


def test_records_with_reasons_match_the_schema(model: Model) -> None:
    for s in _run(model, "all"):
        errors = list(validator("score").iter_errors(s))
        assert not errors, errors[0].message


def test_the_fallback_rules_give_no_reasons() -> None:
    rules = ScoringPipeline(None, PipelineConfig(reasons="all"))
    assert not any("reasons" in s for s in _scores(rules, _batch(500)))


def test_a_canary_explains_its_own_decisions(model: Model) -> None:
    result = train(TrainConfig(seed=5, events=20_000, rounds=15))
    booster = lgb.Booster(model_str=result.booster.model_to_string())
    canary = dataclasses.replace(model, version="v9", booster=booster, compiled=None)
    config = PipelineConfig(reasons="all", reasons_top_k=len(FEATURE_NAMES))
    pipe = ScoringPipeline(model, config, [LoadedChallenger(canary, "canary", 0.5)])
    scores = _scores(pipe, _batch())
    assert {s["model_version"] for s in scores} == {model.version, "v9"}
    for s in scores:
        total = s["reasons_base"] + sum(r["contribution"] for r in s["reasons"])
        assert abs(total - margin_of(s["score"])) < 1e-6  # the decider's margin
    bases = {s["model_version"]: s["reasons_base"] for s in scores}
    assert not np.isclose(bases[model.version], bases["v9"])
