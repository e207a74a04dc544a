"""Routing a velocity model's cold starts (issue 27 part 2, setting ``cold_start_route``):
``model`` decides as for any event; ``fallback`` has the rules score them (their version,
``fallback: true``, no reasons); ``review`` turns their approvals into reviews. Events
with history are decided by the model whatever the route."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from velocity_models import write_velocity_models

from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate
from streams.model.artifact import load_model
from streams.model.fallback import FALLBACK_VERSION
from streams.scoring.account_state import account_states
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import ScoringPipeline


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_velocity_models(tmp_path_factory.mktemp("models"))


def _scores(models: Path, route: str) -> list[dict[str, object]]:
    settings = Settings(cold_start_route=route, reasons="all", model_dir=models)
    pipe = ScoringPipeline(
        load_model(models, "v2"), pipeline_config(settings), states=account_states(settings)
    )
    raws = [r for r in generate(GeneratorConfig(seed=6, count=3_000)) if r.topic == "events"]
    batch = [InRecord(Origin("events", 0, i, 1), r.key, r.value) for i, r in enumerate(raws)]
    out = []
    for start in range(0, len(batch), 500):
        result = pipe.process(batch[start : start + 500], 0)
        out += [orjson.loads(r.value) for r in result.records if r.topic == "scores"]
    return out


def test_each_route_decides_cold_starts_its_way(models: Path) -> None:
    by_route = {route: _scores(models, route) for route in ("model", "fallback", "review")}
    check = validator("score")
    model, fallback, review = by_route["model"], by_route["fallback"], by_route["review"]
    cold = [s["cold_start"] for s in model]
    assert 0 < sum(cold) < len(cold)
    for m, f, r, is_cold in zip(model, fallback, review, cold, strict=True):
        assert check.is_valid(f) and check.is_valid(r)
        assert r["score"] == m["score"]
        if not is_cold:
            assert f == {**m, "scored_at": f["scored_at"]} and r["decision"] == m["decision"]
            continue
        assert f["model_version"] == FALLBACK_VERSION and f["fallback"] is True
        assert "reasons" not in f and m["model_version"] == "v2" and m["fallback"] is False
        assert r["decision"] == ("review" if m["decision"] == "approve" else m["decision"])
    assert any(f["score"] != m["score"] for f, m in zip(fallback, model, strict=True))
