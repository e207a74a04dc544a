"""Native TreeSHAP (issue 27 part 3): the tables and the compiled kernel give LightGBM's
``pred_contrib`` exactly, for the shipped model, a velocity model, and models whose splits
send missing values their own ways (NaN, zero as missing, categories); without gcc the
model keeps ``pred_contrib``."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.errors import ModelError
from streams.model.artifact import load_model, read_check_sample
from streams.model.treeshap import native_shap

MODELS = Path(__file__).resolve().parent.parent / "models"
pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _same_as_lightgbm(booster: lgb.Booster, X: np.ndarray, cache: Path) -> float:
    shap = native_shap(booster, X[:200], cache)
    want = np.asarray(booster.predict(X, pred_contrib=True, num_threads=1))
    got = shap.contributions(X)
    assert got.shape == want.shape
    margin = np.asarray(booster.predict(X, raw_score=True, num_threads=1))
    assert np.max(np.abs(got.sum(axis=1) - margin)) < 1e-9
    return float(np.max(np.abs(got - want)))


def _with_holes(X: np.ndarray, seed: int) -> np.ndarray:
    holes = X.copy()
    holes[np.random.default_rng(seed).random(X.shape) < 0.3] = np.nan
    return np.vstack([X, holes])


def test_the_shipped_model_explained_natively_is_pred_contrib(tmp_path: Path) -> None:
    model = load_model(MODELS, compiled_dir=tmp_path)
    assert model.shap is not None and model.booster is not None
    events = generate_events_clean(GeneratorConfig(seed=8, count=3_000)).events
    X = _with_holes(model.assembler.assemble(events), 8)
    assert _same_as_lightgbm(model.booster, X, tmp_path) < 1e-12
    want = model.booster.predict(X[:50], pred_contrib=True, num_threads=1)
    assert np.allclose(model.contributions(X[:50]), want, rtol=0, atol=1e-12)  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["nan", "zero"])
def test_splits_on_missing_values_and_categories_follow_lightgbm(
    tmp_path: Path, missing: str
) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4_000, 6))
    X[:, 0] = rng.integers(0, 12, size=4_000)  # a category
    X[rng.random(X.shape) < 0.2] = np.nan if missing == "nan" else 0.0
    y = ((np.nan_to_num(X[:, 1]) + (X[:, 0] % 3 == 0) + rng.normal(size=4_000)) > 0.5) * 1.0
    params = {"objective": "binary", "num_leaves": 31, "verbose": -1, "min_data_in_leaf": 5}
    if missing == "zero":
        params["zero_as_missing"] = True
    data = lgb.Dataset(X, y, categorical_feature=[0])
    booster = lgb.train(params, data, num_boost_round=40)
    trees = booster.dump_model()["tree_info"]
    kinds = {n.get("missing_type") for t in trees for n in _nodes(t["tree_structure"])}
    assert ("NaN" if missing == "nan" else "Zero") in kinds
    probe = _with_holes(rng.normal(size=(1_000, 6)), 4)
    probe[:, 0] = np.where(np.isnan(probe[:, 0]), np.nan, rng.integers(-1, 15, size=len(probe)))
    assert _same_as_lightgbm(booster, probe, tmp_path) < 1e-12


def _nodes(node: dict[str, object]) -> list[dict[str, object]]:
    if "leaf_value" in node:
        return []
    return [node, *_nodes(node["left_child"]), *_nodes(node["right_child"])]  # type: ignore[arg-type]


def test_without_gcc_the_model_keeps_pred_contrib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    booster = load_model(MODELS).booster
    assert booster is not None
    with pytest.raises(ModelError, match="gcc"):
        native_shap(booster, read_check_sample(MODELS / "v1"), tmp_path / "cache")
    model = load_model(MODELS, compiled_dir=tmp_path / "cache", compiled_required=False)
    assert model.shap is None
    X = read_check_sample(MODELS / "v1")[:20]
    want = booster.predict(X, pred_contrib=True, num_threads=1)
    assert np.array_equal(model.contributions(X), want)  # type: ignore[arg-type]
