"""Challengers in the scorer, in memory: shadows never change a decision, the canary
draws the same accounts every time and names itself in every score it decides, its
guard stops it, and the reloader loads what models/CHALLENGERS names."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.contract.records import InRecord, Origin, OutRecord
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.memory_io import MemoryIO
from streams.dev.models import copy_version
from streams.dev.training import TrainConfig, train
from streams.errors import ModelError
from streams.model.artifact import Model, load_model
from streams.model.features import Matrix
from streams.model.history import read_history
from streams.model.registry import Challenger, read_challengers, write_challengers
from streams.ops.metrics import ScorerMetrics
from streams.scoring.challengers import LoadedChallenger, ModelSet, account_draw, canary_share
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline
from streams.scoring.reload import ModelReloader, check_challenger
from streams.scoring.scorer import Scorer
from tests.helpers import wait_for

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="module")
def v1() -> Model:
    return load_model(MODELS, "v1")


@pytest.fixture(scope="module")
def other() -> Model:
    """A genuinely different model (fewer trees, another seed), as a challenger."""
    import lightgbm as lgb

    result = train(TrainConfig(seed=5, events=20_000, rounds=15))
    booster = lgb.Booster(model_str=result.booster.model_to_string())
    v1 = load_model(MODELS, "v1")
    return dataclasses.replace(v1, version="v9", booster=booster, compiled=None)


class Constant:
    """Trees that always say ``p``: a canary that declines everything."""

    def __init__(self, p: float) -> None:
        self.p = p

    def predict(self, X: Matrix) -> Matrix:
        return np.full(len(X), self.p)


def _batch(count: int, seed: int = 11, first: int = 0) -> list[InRecord]:
    gen = [r for r in generate(GeneratorConfig(seed=seed, count=count)) if r.topic == "events"]
    return [
        InRecord(Origin("events", i % 3, first + i, 1_000 + i), r.key, r.value)
        for i, r in enumerate(gen)
    ]


def _by_topic(records: list[OutRecord], topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records if r.topic == topic]


def test_shadows_never_change_a_decision_and_log_every_event(v1: Model, other: Model) -> None:
    batch = _batch(3_000)
    alone = ScoringPipeline(v1, PipelineConfig()).process(batch, now_ms=5)
    shadows = [
        LoadedChallenger(other, "shadow"),
        LoadedChallenger(dataclasses.replace(v1, version="v1b"), "shadow"),
    ]
    both = ScoringPipeline(v1, PipelineConfig(), shadows).process(batch, now_ms=5)
    main = [r for r in both.records if r.topic != "scores.shadow"]
    assert [(r.topic, r.key, r.value) for r in main] == [
        (r.topic, r.key, r.value) for r in alone.records
    ]
    shadow = [r for r in both.records if r.topic == "scores.shadow"]
    assert len(shadow) == 2 * alone.scored and dict(both.shadow) == {
        "v9": alone.scored,
        "v1b": alone.scored,
    }
    check = validator("score_shadow")
    scores = {orjson.loads(r.value)["event_id"]: orjson.loads(r.value) for r in alone.records}
    by_other = dict(
        zip(
            [s["event_id"] for s in _by_topic(alone.records, "scores")],
            other.predict(alone.features).tolist(),
            strict=True,
        )
    )
    for rec in shadow:
        value = orjson.loads(rec.value)
        assert check.is_valid(value), list(check.iter_errors(value))[:1]
        assert rec.key == value["event_id"].encode() and value["role"] == "shadow"
        assert value["deciding_version"] == "v1"
        assert value["deciding_score"] == scores[value["event_id"]]["score"]
        if value["model_version"] == "v9":
            assert value["score"] == pytest.approx(by_other[value["event_id"]], abs=1e-12)
    assert len({(orjson.loads(r.value)["model_version"], r.key) for r in shadow}) == len(shadow)


def test_a_failing_challenger_leaves_the_champions_scores_alone(v1: Model) -> None:
    broken = dataclasses.replace(v1, version="v5", compiled=Constant(float("nan")))
    broken = dataclasses.replace(broken, compiled=None, booster=None)  # predict raises
    batch = _batch(500)
    alone = ScoringPipeline(v1, PipelineConfig()).process(batch, now_ms=5)
    with_broken = ScoringPipeline(v1, PipelineConfig(), [LoadedChallenger(broken, "shadow")])
    result = with_broken.process(batch, now_ms=5)
    assert [r.value for r in result.records] == [r.value for r in alone.records]
    assert result.fallback == 0 and not result.shadow


def test_the_canary_meets_the_same_accounts_every_time(v1: Model, other: Model) -> None:
    accounts = [f"acct-{i}" for i in range(20_000)]
    mask = canary_share(accounts, "v9", 0.2)
    assert 0.19 < mask.mean() < 0.21  # the share asked for
    assert (canary_share(accounts, "v9", 0.2) == mask).all()  # same accounts, every time
    assert (mask <= canary_share(accounts, "v9", 0.3)).all()  # a larger share keeps them
    assert (mask != canary_share(accounts, "v8", 0.2)).mean() > 0.02  # another version: others
    assert account_draw("acct-1", "v9") == account_draw("acct-1", "v9")

    canary = [LoadedChallenger(other, "canary", 0.3)]
    deciders: dict[str, set[str]] = {}
    for seed in (11, 12):  # two pipelines, batches of other events of the same accounts
        pipe = ScoringPipeline(v1, PipelineConfig(), canary)
        for part in np.array_split(np.arange(2_000), 4):
            batch = _batch(2_000, seed)
            result = pipe.process([batch[i] for i in part], now_ms=5)
            for s in _by_topic(result.records, "scores"):
                deciders.setdefault(s["account_id"], set()).add(s["model_version"])
                expected = "v9" if account_draw(s["account_id"], "v9") < 0.3 else "v1"
                assert s["model_version"] == expected
    assert all(len(v) == 1 for v in deciders.values())
    assert {"v1", "v9"} == set().union(*deciders.values())


def test_the_canary_decides_with_its_score_and_the_champions_goes_to_shadow(
    v1: Model, other: Model
) -> None:
    batch = _batch(3_000)
    pipe = ScoringPipeline(v1, PipelineConfig(), [LoadedChallenger(other, "canary", 0.3)])
    result = pipe.process(batch, now_ms=5)
    scores = _by_topic(result.records, "scores")
    shadow = _by_topic(result.records, "scores.shadow")
    v1_scores = dict(
        zip([s["event_id"] for s in scores], v1.predict(result.features).tolist(), strict=True)
    )
    v9_scores = dict(
        zip([s["event_id"] for s in scores], other.predict(result.features).tolist(), strict=True)
    )
    by_event = {(s["event_id"], s["model_version"]): s for s in shadow}
    for s in scores:
        eid, decider = s["event_id"], s["model_version"]
        assert s["score"] == pytest.approx((v9_scores if decider == "v9" else v1_scores)[eid])
        other_version = "v1" if decider == "v9" else "v9"
        logged = by_event[(eid, other_version)]  # the score that did not decide
        assert logged["role"] == ("champion" if decider == "v9" else "shadow")
        assert logged["deciding_version"] == decider and logged["deciding_score"] == s["score"]
    assert len(shadow) == len(scores)
    assert (
        result.decided_by["v9"] + result.decided_by["v1"]
        == len(scores)
        > result.decided_by["v9"]
        > 0
    )


def test_the_guard_stops_a_canary_that_declines_far_more(v1: Model) -> None:
    declines = dataclasses.replace(v1, version="v7", compiled=Constant(0.99))
    config = PipelineConfig(canary_guard_margin=0.05, canary_guard_min_events=300)
    pipe = ScoringPipeline(v1, config, [LoadedChallenger(declines, "canary", 0.5)])
    trips, deciders = [], []
    for i in range(6):
        result = pipe.process(_batch(500, seed=20 + i, first=500 * i), now_ms=5)
        trips.append(result.guard_trip)
        deciders.append(Counter(s["model_version"] for s in _by_topic(result.records, "scores")))
    tripped_at = next(i for i, t in enumerate(trips) if t is not None)
    trip = trips[tripped_at]
    assert trip is not None and trip.version == "v7" and trip.canary_rate == 1.0
    assert trip.canary_events >= 300 and trip.champion_events >= 300
    assert trip.gap > 0.05
    assert all(t is None for t in trips[tripped_at + 1 :])  # it trips once
    assert all(d["v7"] == 0 for d in deciders[tripped_at + 1 :])  # then the champion decides
    later = pipe.process(_batch(500, seed=40), now_ms=5)  # the canary still scores, in shadow
    assert later.shadow["v7"] == later.scored


def test_the_guard_holds_a_canary_that_decides_like_the_champion(v1: Model) -> None:
    twin = dataclasses.replace(v1, version="v8")
    pipe = ScoringPipeline(
        v1, PipelineConfig(canary_guard_min_events=300), [LoadedChallenger(twin, "canary", 0.5)]
    )
    for i in range(6):
        assert pipe.process(_batch(500, seed=20 + i), now_ms=5).guard_trip is None


def _model_dir(tmp_path: Path, *versions: str) -> Path:
    for v in versions:
        copy_version(tmp_path, v)
    (tmp_path / "CURRENT").write_text(versions[0] + "\n")
    return tmp_path


def test_the_scorer_stops_a_tripped_canary_in_the_registry_and_alerts(
    v1: Model, tmp_path: Path
) -> None:
    model_dir = _model_dir(tmp_path, "v1", "v7")
    write_challengers(model_dir, [Challenger("v7", "canary", 0.5)])
    settings = Settings(
        model_dir=model_dir, model_reload_s=0, canary_guard_min_events=200, scorer_instance_id="s1"
    )
    declines = dataclasses.replace(v1, version="v7", compiled=Constant(0.99))
    pipe = ScoringPipeline(
        v1, pipeline_config(settings), [LoadedChallenger(declines, "canary", 0.5)]
    )
    offsets = iter(range(10**9))
    raws = [r.value for r in _batch(400)]
    sent: list[OutRecord] = []
    lock = threading.Lock()

    def send(outputs: Any, _batch: object) -> None:
        with lock:
            sent.extend(outputs)

    io = MemoryIO(
        lambda _room: [
            InRecord(Origin("events", 0, next(offsets)), None, raw) for raw in raws[:100]
        ],
        on_send=send,
        keep_sent=False,
    )
    metrics = ScorerMetrics(CollectorRegistry())
    scorer = Scorer(settings, pipe, io, metrics)
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(
            lambda: any(r.topic == "drift.alerts" for r in list(sent)), 30, "the guard's alert"
        )
    finally:
        stop.set()
        thread.join(30)
    alerts = _by_topic(sent, "drift.alerts")
    assert len(alerts) == 1 and alerts[0]["signal"] == "canary_guard"
    assert validator("drift_alert").is_valid(alerts[0]) and alerts[0]["model_version"] == "v7"
    assert read_challengers(model_dir) == [Challenger("v7", "shadow")]
    entries = read_history(model_dir).entries
    assert [(e["action"], e["version"], e["actor"]) for e in entries] == [
        ("canary_stopped", "v7", "scorer:s1")
    ]
    assert entries[0]["evidence"]["canary_rate"] == 1.0


def test_the_reloader_loads_the_challengers_named_and_reuses_loaded_models(
    v1: Model, tmp_path: Path
) -> None:
    model_dir = _model_dir(tmp_path, "v1", "v2", "v3")
    loads: list[str] = []

    def load(version: str) -> Model:
        loads.append(version)
        return load_model(model_dir, version)

    settings = Settings(model_dir=model_dir, model_reload_s=0.01, challengers_max=1)
    reloader = ModelReloader(settings, load)
    in_use = ModelSet(v1)
    write_challengers(model_dir, [Challenger("v2", "shadow"), Challenger("v3", "canary", 0.1)])
    got: list[ModelSet] = []
    wait_for(
        lambda: bool(got.append(m) if (m := reloader.poll(in_use)) else False) or bool(got),
        30,
        "a load",
    )
    models = got[0]
    assert models.champion is v1 and loads == ["v2"]  # the champion reused; at most 1 challenger
    assert [(c.version, c.role) for c in models.challengers] == [("v2", "shadow")]
    assert reloader.poll(models) is None


def test_a_challenger_with_other_categorical_levels_is_refused(v1: Model) -> None:
    levels = {**v1.assembler.levels, "currency": ["EUR", "USD"]}
    odd = dataclasses.replace(v1, version="v4", assembler=type(v1.assembler)(levels))
    with pytest.raises(ModelError, match="categorical levels differ"):
        check_challenger(v1, odd)


def test_a_challenger_that_fails_to_load_changes_nothing_in_use(v1: Model, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path, "v1", "v5")
    (model_dir / "v5" / "model.txt").write_text("tampered")  # sha256 no longer matches
    tried: list[str] = []

    def load(version: str) -> Model:
        tried.append(version)
        return load_model(model_dir, version)

    settings = Settings(model_dir=model_dir, model_reload_s=0.01, challengers_max=1)
    reloader = ModelReloader(settings, load)
    write_challengers(model_dir, [Challenger("v5", "shadow")])
    handed: list[ModelSet] = []

    def polled() -> bool:
        if (models := reloader.poll(ModelSet(v1))) is not None:
            handed.append(models)
        return tried.count("v5") >= 2 and not reloader.loading

    wait_for(polled, 30, "two attempts at v5")
    assert handed == []  # the same models as in use: no swap (a canary would keep its guard)
