"""predictor=compiled: the shipped model's trees as native code score as LightGBM does,
are compiled once per model, and a library of other trees is refused."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from streams.dev.generator import GeneratorConfig, generate
from streams.dev.training import TrainConfig, train, write_artifact
from streams.errors import ModelError
from streams.model.artifact import Model, load_model
from streams.model.compiled import (
    STALE_PARTIAL_S,
    TOLERANCE,
    check_same_scores,
    compile_trees,
    remove_stale_partials,
)

MODELS = Path(__file__).resolve().parent.parent / "models"


def _features(model: Model, seed: int) -> np.ndarray:
    events = [r for r in generate(GeneratorConfig(seed=seed, count=3_000)) if r.topic == "events"]
    X = model.assembler.assemble([orjson.loads(r.value or b"") for r in events])
    X[np.random.default_rng(seed).random(X.shape) < 0.1] = np.nan  # missing values too
    return X


def test_compiled_trees_score_as_lightgbm_and_are_built_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cut_off = tmp_path / ".4242.0123456789abcdef-tl2cgen1.0.0-x86_64.so"  # a compile killed
    cut_off.write_bytes(b"half a library")
    os.utime(cut_off, (time.time() - STALE_PARTIAL_S - 60,) * 2)
    model = load_model(MODELS, compiled_dir=tmp_path)
    assert model.compiled is not None
    # tl2cgen's own treelite read the model without a version warning (fd 2, from C++)
    assert "newer Treelite version" not in capfd.readouterr().err
    X = _features(model, seed=5)  # not the sample load_model checked
    compiled = model.predict(X)
    expected = model.booster.predict(X, num_threads=1)
    assert np.max(np.abs(compiled - expected)) <= TOLERANCE
    library = model.compiled.library
    built = library.stat().st_mtime_ns
    again = load_model(MODELS, compiled_dir=tmp_path)
    assert again.compiled is not None and again.compiled.library == library
    assert library.stat().st_mtime_ns == built  # the cached library, not a new build
    # no partial files left: neither this build's nor the one cut off before
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("treeshap-")] == [
        library.name
    ]


def test_only_old_partial_libraries_are_removed(tmp_path: Path) -> None:
    old, recent = tmp_path / ".17.a.so", tmp_path / ".18.a.so"  # recent: a compile going on
    for path in (old, recent, tmp_path / "a.so"):
        path.write_bytes(b"")
    os.utime(old, (time.time() - STALE_PARTIAL_S - 60,) * 2)
    assert remove_stale_partials(tmp_path) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".18.a.so", "a.so"]
    assert remove_stale_partials(tmp_path / "missing") == []


def test_trees_of_another_model_are_refused(tmp_path: Path) -> None:
    shipped = load_model(MODELS)
    config = TrainConfig(seed=3, events=8_000, rounds=15)
    write_artifact(train(config, "other"), tmp_path, set_current=False)
    other_model = load_model(tmp_path, "other")
    trees = compile_trees(other_model.booster, other_model.manifest["model_sha256"], tmp_path)
    with pytest.raises(ModelError, match="differ from LightGBM"):
        check_same_scores(shipped.booster, trees, _features(shipped, seed=6))


@pytest.mark.parametrize("broken", ["corrupt cached library", "cache dir is a file"])
def test_auto_predicts_with_lightgbm_when_the_trees_cannot_be_used(
    tmp_path: Path, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "compiled"
    if broken == "corrupt cached library":
        library = load_model(MODELS, compiled_dir=cache).compiled.library  # type: ignore[union-attr]
        library.write_bytes(b"not a shared library")
    else:
        cache.write_bytes(b"")
    with pytest.raises(ModelError, match=r"compiled trees|compile the trees"):
        load_model(MODELS, compiled_dir=cache)  # predictor=compiled: the load fails
    with caplog.at_level("WARNING", logger="streams.model.artifact"):
        model = load_model(MODELS, compiled_dir=cache, compiled_required=False)
    assert model.compiled is None and model.predictor == "lightgbm"
    said = [r.getMessage() for r in caplog.records]
    assert said.count("compiled trees not used; predicting with LightGBM") == 1
    if broken == "cache dir is a file":  # TreeSHAP's kernel has nowhere to go either
        assert model.shap is None and "native TreeSHAP not used; reasons from LightGBM" in said
    X = _features(model, seed=7)
    assert np.array_equal(model.predict(X), model.booster.predict(X, num_threads=1))


def test_compiled_predictions_leave_no_garbage(tmp_path: Path) -> None:
    # The scorer collects garbage once a second (streams/collector.py) and a collection
    # holds the GIL: tl2cgen's Predictor.predict left 8 objects in reference cycles per
    # call, ~5,000 a second at 5,000 events/s. Predictions, of a few rows as at low
    # rates and of many, must leave none.
    model = load_model(MODELS, compiled_dir=tmp_path)
    X = _features(model, seed=8)
    expected = model.booster.predict(X, num_threads=1)
    gc.collect()
    gc.disable()
    try:
        for start in range(0, 2_000, 5):
            rows = model.predict(X[start : start + 5])
            assert np.max(np.abs(rows - expected[start : start + 5])) <= TOLERANCE
        assert np.max(np.abs(model.predict(X) - expected)) <= TOLERANCE
        assert gc.collect() == 0
    finally:
        gc.enable()
