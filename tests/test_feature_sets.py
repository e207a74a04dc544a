"""A model's features are its manifest's: a model trained with the velocity features
loads with them (and explains with them), the scorer loads it, and a challenger must
have the champion's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from velocity_models import write_velocity_models

from streams.config import Settings
from streams.errors import ModelError
from streams.model.artifact import load_model
from streams.model.features import EVENT_SET, VELOCITY_SET, feature_set
from streams.scoring.reload import check_challenger, load


@pytest.fixture(scope="module")
def velocity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/ with v1 and a v2 trained on the event's and the velocity features."""
    return write_velocity_models(tmp_path_factory.mktemp("models"))


def test_the_manifest_names_the_computed_features(velocity_dir: Path) -> None:
    model = load_model(velocity_dir, "v2")
    assert model.features is VELOCITY_SET
    sources = {f["name"]: f.get("source", "event") for f in model.manifest["features"]}
    assert [n for n, s in sources.items() if s == "computed"] == VELOCITY_SET.names[15:]
    X = np.full((3, len(VELOCITY_SET.names)), np.nan)
    contrib = model.contributions(X)
    assert contrib is not None and contrib.shape == (3, len(VELOCITY_SET.names) + 1)
    assert load_model(velocity_dir, "v1").features is EVENT_SET


def test_the_scorer_loads_a_velocity_model(velocity_dir: Path) -> None:
    settings = Settings(model_dir=velocity_dir, predictor="lightgbm")
    assert load(settings, "v2").features is VELOCITY_SET
    assert load(settings, "v1").version == "v1"


def test_a_challenger_needs_the_champions_features(velocity_dir: Path) -> None:
    v1, v2 = load_model(velocity_dir, "v1"), load_model(velocity_dir, "v2")
    with pytest.raises(ModelError, match="features differ"):
        check_challenger(v1, v2)


def test_unknown_feature_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="differ"):
        feature_set([*EVENT_SET.names, "count_1m"])
