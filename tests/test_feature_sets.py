"""A model's features are its manifest's: a model trained with the velocity features
loads with them (and explains with them), while the scorer refuses to serve it until it
computes them, and a challenger must have the champion's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.dev.training import LEVELS
from streams.errors import ModelError
from streams.model.artifact import load_model
from streams.model.features import EVENT_SET, VELOCITY_SET, FeatureAssembler, feature_set
from streams.model.training import build_manifest, fit, training_params, write_version
from streams.model.velocity import AccountFeatures, VelocityConfig
from streams.scoring.reload import check_challenger, load

MODELS = Path(__file__).resolve().parent.parent / "models"
_PLACE = ("account_id", "event_time", "amount", "merchant_category", "country")


@pytest.fixture(scope="module")
def velocity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/ with v1 and a v2 trained on the event's and the velocity features."""
    clean = generate_events_clean(GeneratorConfig(seed=4, count=8_000, events_per_second=2.0))
    acc = AccountFeatures(VelocityConfig())
    V = np.array([acc.observe(*(e.get(f) for f in _PLACE))[0] for e in clean.events])
    X = FeatureAssembler(LEVELS, VELOCITY_SET).assemble(clean.events, V)
    y = clean.labels.astype(np.float64)
    times = np.array([e["event_time"] for e in clean.events], dtype=np.float64)
    params = training_params({"objective": "binary", "num_leaves": 7, "verbose": -1}, 4)
    fitted = fit(X, y, times, params, 20, 0.2, LEVELS, features=VELOCITY_SET)
    training = {"seed": 4, "events": len(y), **fitted.training}
    manifest = build_manifest(
        "v2", LEVELS, training, fitted.metrics, fitted.reference, VELOCITY_SET
    )
    out = tmp_path_factory.mktemp("models")
    write_version(out, "v2", fitted.booster, manifest, X[:50])
    (out / "v1").symlink_to(MODELS / "v1")
    return out


def test_the_manifest_names_the_computed_features(velocity_dir: Path) -> None:
    model = load_model(velocity_dir, "v2")
    assert model.features is VELOCITY_SET
    sources = {f["name"]: f.get("source", "event") for f in model.manifest["features"]}
    assert [n for n, s in sources.items() if s == "computed"] == VELOCITY_SET.names[15:]
    X = np.full((3, len(VELOCITY_SET.names)), np.nan)
    contrib = model.contributions(X)
    assert contrib is not None and contrib.shape == (3, len(VELOCITY_SET.names) + 1)
    assert load_model(velocity_dir, "v1").features is EVENT_SET


def test_the_scorer_refuses_what_it_cannot_compute(velocity_dir: Path) -> None:
    settings = Settings(model_dir=velocity_dir, predictor="lightgbm")
    with pytest.raises(ModelError, match="velocity features"):
        load(settings, "v2")
    assert load(settings, "v1").version == "v1"


def test_a_challenger_needs_the_champions_features(velocity_dir: Path) -> None:
    v1, v2 = load_model(velocity_dir, "v1"), load_model(velocity_dir, "v2")
    with pytest.raises(ModelError, match="features differ"):
        check_challenger(v1, v2)


def test_unknown_feature_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="differ"):
        feature_set([*EVENT_SET.names, "count_1m"])
