"""The online challenger: River's logistic model learned from labelled rows, its JSON
artifact (numpy predicts what River predicts), a version like any other (verify, load,
shadow), publishing that never overwrites, adapting to a concept change, and the
``fallback_version`` the scorer uses when the champion fails."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest

from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.contract.schemas import validator
from streams.dev.generator import DriftSpec, GeneratorConfig, generate, generate_events_clean
from streams.errors import ModelError
from streams.lifecycle.labelled_data import LabelledRow
from streams.model.artifact import Model, load_model
from streams.model.features import CATEGORICAL_INDEX, Matrix
from streams.model.metrics import roc_auc
from streams.model.online import LinearPredictor
from streams.model.registry import verify
from streams.model.training import write_version
from streams.monitoring.online_learner import OnlineConfig, OnlineLearner
from streams.scoring.challengers import LoadedChallenger
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline
from streams.scoring.reload import load_or_fallback

MODELS = Path(__file__).resolve().parent.parent / "models"
CHANGE, COUNT, WINDOW = 20_000, 40_000, 2_000


@pytest.fixture(scope="module")
def v1() -> Model:
    return load_model(MODELS, "v1")


@pytest.fixture(scope="module")
def stream(v1: Model) -> tuple[Matrix, Matrix]:
    """v1's features and the true labels of events with a concept change at CHANGE."""
    config = GeneratorConfig(seed=5, count=COUNT, events_per_second=2.0,
                             drift=(DriftSpec(CHANGE, concept=True),))  # fmt: skip
    clean = generate_events_clean(config)
    return v1.assembler.assemble(clean.events), clean.labels.astype(np.float64)


def _rows(X: Matrix, y: Matrix, start: int = 0) -> list[LabelledRow]:
    return [
        LabelledRow(f"e{start + i}", "a", start + i, int(label), "v1", 0.5, tuple(x))
        for i, (x, label) in enumerate(zip(X.tolist(), y.tolist(), strict=True))
    ]


@pytest.fixture(scope="module")
def learned(stream: tuple[Matrix, Matrix]) -> tuple[OnlineLearner, list[float]]:
    """A learner fed every event's label at once; its progressive AUC after each window."""
    X, y = stream
    learner = OnlineLearner(OnlineConfig(window=WINDOW, publish_labels=10_000, min_labels=5_000))
    aucs = []
    for at in range(0, COUNT, WINDOW):
        learner.learn(_rows(X[at : at + WINDOW], y[at : at + WINDOW], at))
        aucs.append(learner.quality()["auc"])
    return learner, aucs


@pytest.fixture()
def published(learned: tuple[OnlineLearner, list[float]], tmp_path: Path) -> Path:
    learner, _ = learned
    models = tmp_path / "models"
    shutil.copytree(MODELS / "v1", models / "v1")
    assert learner.publish(models, force=True) == models / "online-1"
    return models


def _awkward(X: Matrix) -> Matrix:
    """A batch with a quarter of its values missing and unseen category codes."""
    rng = np.random.default_rng(3)
    out = X[:600].copy()
    out[rng.random(out.shape) < 0.25] = np.nan
    for j in CATEGORICAL_INDEX:
        out[rng.random(len(out)) < 0.1, j] = 40.0  # no level has this code
    return out


def test_json_round_trip_predicts_what_river_predicts(
    learned: tuple[OnlineLearner, list[float]], stream: tuple[Matrix, Matrix]
) -> None:
    learner, _ = learned
    X = _awkward(stream[0])
    blob, manifest = learner.export("online-9")
    river = np.array([learner.model.predict(tuple(x)) for x in X.tolist()])
    numpy = LinearPredictor.from_json(blob).predict(X)
    assert np.isnan(X).any() and np.max(np.abs(numpy - river)) < 1e-9
    assert river.min() > 0.001 and river.max() < 0.999  # not saturated: the check bites
    assert b"pickle" not in blob and orjson.loads(blob)["kind"] == manifest["model_kind"]


def test_the_published_version_passes_verify_and_loads(
    published: Path, stream: tuple[Matrix, Matrix], v1: Model
) -> None:
    model = verify(published, "online-1")
    assert model.predictor == "linear" and model.booster is None
    assert model.manifest["model_file"] == "model.json" and "river" in model.manifest["libraries"]
    assert validator("manifest").is_valid(model.manifest)
    assert model.assembler.levels == v1.assembler.levels
    compiled = load_model(published, "online-1", published / "cache", compiled_required=True)
    X = _awkward(stream[0])
    assert np.array_equal(compiled.predict(X), model.predict(X))  # never compiled
    assert not (published / "cache").exists()
    assert 0.5 < model.manifest["metrics"]["holdout_auc"] <= 1


def test_a_tampered_model_file_is_refused(published: Path) -> None:
    path = published / "online-1" / "model.json"
    doc = orjson.loads(path.read_bytes())
    doc["intercept"] += 1.0
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    with pytest.raises(ModelError, match="sha256"):
        verify(published, "online-1")


def test_publishing_never_overwrites(
    learned: tuple[OnlineLearner, list[float]], published: Path
) -> None:
    learner, _ = learned
    before = (published / "online-1" / "model.json").read_bytes()
    assert learner.publish(published) is None  # nothing learned since: not due
    assert learner.publish(published, force=True) == published / "online-2"
    blob, manifest = learner.export("online-1")
    with pytest.raises(ModelError, match="immutable"):
        write_version(published, "online-1", blob, manifest, np.zeros((1, 15)))
    assert (published / "online-1" / "model.json").read_bytes() == before
    fresh = OnlineLearner(OnlineConfig(min_labels=5_000, publish_labels=1))
    fresh.learn(_rows(np.zeros((10, 15)), np.array([0.0, 1.0] * 5)))
    assert not fresh.due() and fresh.publish(published) is None  # below min_labels


def _events(count: int) -> list[InRecord]:
    recs = [r for r in generate(GeneratorConfig(seed=12, count=count)) if r.topic == "events"]
    return [InRecord(Origin("events", 0, i, 1_000 + i), r.key, r.value) for i, r in enumerate(recs)]


def test_the_scorer_runs_it_as_a_shadow(published: Path, v1: Model) -> None:
    online = verify(published, "online-1")
    pipe = ScoringPipeline(v1, PipelineConfig(), [LoadedChallenger(online, "shadow")])
    result = pipe.process(_events(500), now_ms=5)
    shadow = [orjson.loads(r.value) for r in result.records if r.topic == "scores.shadow"]
    assert len(shadow) == result.scored == 500 and dict(result.shadow) == {"online-1": 500}
    check = validator("score_shadow")
    assert all(check.is_valid(s) and s["model_version"] == "online-1" for s in shadow)
    expected = online.predict(result.features)
    assert np.allclose([s["score"] for s in shadow], expected)


def test_it_adapts_to_a_concept_change_while_v1_does_not(
    learned: tuple[OnlineLearner, list[float]], stream: tuple[Matrix, Matrix], v1: Model
) -> None:
    _, aucs = learned
    X, y = stream
    p = v1.predict(X)
    champion = [roc_auc(y[a : a + WINDOW], p[a : a + WINDOW]) for a in range(0, COUNT, WINDOW)]
    k = CHANGE // WINDOW  # the first window after the change
    assert not any(math.isnan(a) for a in aucs)
    assert champion[-1] < champion[k - 1] - 0.1  # v1 falls
    assert aucs[k] < aucs[k - 1] and aucs[-1] > aucs[k] + 0.05  # the learner recovers
    assert np.mean(aucs[-3:]) > np.mean(champion[-3:]) + 0.05


def test_the_fallback_version_scores_when_the_champion_fails(published: Path, v1: Model) -> None:
    online = verify(published, "online-1")
    broken = dataclasses.replace(v1, booster=None, compiled=None)  # its predict raises
    pipe = ScoringPipeline(broken, PipelineConfig(), fallback=online)
    result = pipe.process(_events(200), now_ms=0)
    values = [orjson.loads(r.value) for r in result.records]
    assert result.fallback == 200 and {v["model_version"] for v in values} == {"online-1"}
    assert all(v["fallback"] is True for v in values)
    assert np.allclose([v["score"] for v in values], online.predict(result.features))


def test_fallback_version_when_the_champion_cannot_load(published: Path) -> None:
    (published / "CURRENT").write_text("v7\n")  # no such version
    settings = Settings(model_dir=published, model_required=False, predictor="lightgbm",
                        fallback_version="online-1", model_reload_s=0)  # fmt: skip
    models = load_or_fallback(settings)
    assert models.champion is None and models.fallback is not None
    pipe = ScoringPipeline(models.champion, PipelineConfig(), fallback=models.fallback)
    values = [orjson.loads(r.value) for r in pipe.process(_events(50), now_ms=0).records]
    assert {(v["fallback"], v["model_version"]) for v in values} == {(True, "online-1")}
    rules = load_or_fallback(settings.model_copy(update={"fallback_version": None}))
    assert rules.champion is None and rules.fallback is None  # today's behaviour: the rules
