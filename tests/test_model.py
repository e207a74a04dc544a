"""The shipped default model, its manifest, reproducible training, and fail-fast loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from streams.contract.schemas import validator
from streams.dev.training import TrainConfig, train, write_artifact
from streams.errors import ModelError
from streams.model.artifact import current_version, load_model
from streams.model.features import FEATURE_NAMES

MODELS = Path(__file__).resolve().parent.parent / "models"


def test_shipped_model_loads_and_is_small() -> None:
    model = load_model(MODELS)
    assert model.version == current_version(MODELS)
    assert list(model.booster.feature_name()) == FEATURE_NAMES
    assert (MODELS / model.version / "model.txt").stat().st_size < 1_000_000
    assert validator("manifest").is_valid(model.manifest)
    assert 0.5 < model.manifest["metrics"]["holdout_auc"] < 1.0


def test_train_reproduces_the_shipped_metrics() -> None:
    shipped = load_model(MODELS).manifest
    t = shipped["training"]
    config = TrainConfig(
        seed=t["seed"], events=t["events"], events_per_second=t["events_per_second"]
    )
    again = train(config, version="repro").manifest
    for metric in ("holdout_auc", "holdout_log_loss", "train_auc"):
        assert again["metrics"][metric] == pytest.approx(shipped["metrics"][metric], abs=0.005)
    assert again["reference"]["features"].keys() == shipped["reference"]["features"].keys()


def test_same_seed_same_model_bytes(tmp_path: Path) -> None:
    config = TrainConfig(seed=3, events=8_000, rounds=15)
    a = write_artifact(train(config, "a"), tmp_path, set_current=False)
    b = write_artifact(train(config, "b"), tmp_path, set_current=True)
    assert (a / "model.txt").read_bytes() == (b / "model.txt").read_bytes()
    assert current_version(tmp_path) == "b"
    assert load_model(tmp_path).version == "b"


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    version = current_version(MODELS)
    shutil.copytree(MODELS / version, tmp_path / version)
    (tmp_path / "CURRENT").write_text(version)
    return tmp_path / version


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model pointer"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="cannot read model manifest"):
        load_model(tmp_path, "v404")


def test_tampered_model_file_is_refused(model_copy: Path) -> None:
    with (model_copy / "model.txt").open("ab") as f:
        f.write(b"\n")
    with pytest.raises(ModelError, match="sha256"):
        load_model(model_copy.parent)


def test_feature_order_mismatch_is_refused(model_copy: Path) -> None:
    manifest = orjson.loads((model_copy / "manifest.json").read_bytes())
    manifest["features"][0], manifest["features"][1] = (
        manifest["features"][1],
        manifest["features"][0],
    )
    (model_copy / "manifest.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(ModelError, match="differ"):
        load_model(model_copy.parent)


def test_invalid_manifest_is_refused(model_copy: Path) -> None:
    manifest = orjson.loads((model_copy / "manifest.json").read_bytes())
    del manifest["reference"]
    (model_copy / "manifest.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(ModelError, match="invalid manifest"):
        load_model(model_copy.parent)
