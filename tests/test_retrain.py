"""``streamscore retrain``: labelled records → the latest label per event → a new,
immutable model version with its lineage, reproducible for a seed."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streams.cli import main
from streams.config import Settings
from streams.contract.records import InRecord, Origin, OutRecord
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.errors import ModelError
from streams.kafka import publish
from streams.kafka.embedded import EmbeddedBroker
from streams.lifecycle.labelled_data import latest_by_event, training_matrix
from streams.lifecycle.retrain import (
    NotEnoughLabels,
    RetrainOptions,
    Selection,
    next_version,
    parse_time,
    retrain_records,
)
from streams.model.artifact import current_version, load_model
from streams.model.features import FEATURE_NAMES
from streams.model.training import write_version
from streams.scoring.score_records import feature_values

MODELS = Path(__file__).resolve().parent.parent / "models"
ROUNDS = 30  # enough for a model, fast enough for a test


def _labelled(events: int = 3_000, seed: int = 11) -> list[dict[str, Any]]:
    """``labelled`` records of generated events, scored by the shipped model."""
    clean = generate_events_clean(GeneratorConfig(seed=seed, count=events))
    model = load_model(MODELS)
    X = model.assembler.assemble(clean.events)
    scores = model.predict(X)
    out = []
    for event, vector, score, label in zip(
        clean.events, feature_values(X), scores, clean.labels.tolist(), strict=True
    ):
        t = int(event["event_time"])
        out.append(
            {
                "event_id": event["event_id"],
                "account_id": event["account_id"],
                "features": dict(zip(FEATURE_NAMES, vector, strict=True)),
                "score": float(score),
                "decision": "approve",
                "model_version": model.version,
                "label": int(label),
                "label_source": "chargeback",
                "feedback_id": f"fb-{event['event_id']}",
                "event_time": t,
                "score_time": t + 5,
                "label_time": t + 60_000,
                "label_delay_ms": 60_000,
                "correction": False,
                "previous_label": None,
            }
        )
    return out


@pytest.fixture(scope="module")
def labelled() -> list[dict[str, Any]]:
    docs = _labelled()
    check = validator("labelled")
    assert all(check.is_valid(d) for d in docs)
    return docs


def _records(docs: list[dict[str, Any]], partitions: int = 3) -> list[InRecord]:
    offsets = [0] * partitions
    out = []
    for i, d in enumerate(docs):
        p = i % partitions
        out.append(InRecord(Origin("labelled", p, offsets[p]), d["event_id"].encode(), _b(d)))
        offsets[p] += 1
    return out


def _b(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    models = tmp_path / "models"
    shutil.copytree(MODELS / current_version(MODELS), models / "v1")
    (models / "CURRENT").write_text("v1\n")
    return Settings(model_dir=models)


def test_a_correction_at_a_later_offset_wins_in_any_partition_order(
    labelled: list[dict[str, Any]],
) -> None:
    first, other = labelled[0], labelled[1]
    fixed = {**first, "label": 1 - first["label"], "correction": True}
    fixed["previous_label"] = first["label"]
    key = first["event_id"].encode()
    recs = [
        InRecord(Origin("labelled", 1, 7), key, _b(fixed)),
        InRecord(Origin("labelled", 0, 3), other["event_id"].encode(), _b(other)),
        InRecord(Origin("labelled", 1, 2), key, _b(first)),
    ]
    for order in (recs, recs[::-1]):
        rows, counts = latest_by_event(order)
        assert rows[first["event_id"]].label == fixed["label"]
        assert (counts.records, counts.events, counts.corrections, counts.superseded) == (
            3,
            2,
            1,
            1,
        )
        assert counts.offsets == {0: (3, 3), 1: (2, 7)}
        assert counts.positives + counts.negatives == 2


def test_bad_records_are_skipped_and_counted(labelled: list[dict[str, Any]]) -> None:
    good = labelled[0]
    renamed = {**good, "features": {**good["features"], "amount_x": 1.0}}
    del renamed["features"]["amount"]
    bad_code = {**good, "features": {**good["features"], "channel": 1.5}}
    values: list[tuple[bytes | None, bytes | None]] = [
        (b"e", b"{not json"),
        (b"e", _b({**good, "label": 2})),
        (good["event_id"].encode(), _b(renamed)),
        (good["event_id"].encode(), _b(bad_code)),
        (b"another-key", _b(good)),
        (b"e", None),
        (good["event_id"].encode(), _b(good)),
    ]
    recs = [InRecord(Origin("labelled", 0, i), k, v) for i, (k, v) in enumerate(values)]
    rows, counts = latest_by_event(recs)
    assert list(rows) == [good["event_id"]]
    assert counts.skipped == {
        "category_code": 1,
        "feature_names": 1,
        "key_mismatch": 1,
        "malformed_json": 1,
        "no_value": 1,
        "schema_invalid": 1,
    }
    kept = rows[good["event_id"]].features
    for name, value in good["features"].items():
        got = kept[FEATURE_NAMES.index(name)]
        assert math.isnan(got) if value is None else got == value


def test_training_matrix_is_time_ordered(labelled: list[dict[str, Any]]) -> None:
    rows, _ = latest_by_event(_records(labelled[::-1]))
    X, y, times = training_matrix(rows.values())
    assert np.all(np.diff(times) >= 0) and X.shape == (len(labelled), len(FEATURE_NAMES))
    by_time = sorted(labelled, key=lambda d: (d["event_time"], d["event_id"]))
    assert y.tolist() == [float(d["label"]) for d in by_time]


def test_retrain_writes_a_checked_version_with_lineage(
    settings: Settings, labelled: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = retrain_records(_records(labelled), settings, RetrainOptions(rounds=ROUNDS))
    m = result.manifest
    assert result.path == settings.model_dir / "v2" and m["model_version"] == "v2"
    assert validator("manifest").is_valid(m)
    lineage = m["lineage"]
    assert lineage["parent"] == "v1"
    assert lineage["label_counts"]["events"] == len(labelled) == m["training"]["events"]
    assert {p["partition"] for p in lineage["source"]["partitions"]} == {0, 1, 2}
    hold = lineage["holdout"]
    assert (
        hold["rows"] == m["training"]["holdout_rows"] == len(labelled) - m["training"]["train_rows"]
    )
    assert 0.5 < hold["new"]["auc"] <= 1 and 0.5 < hold["parent"]["auc"] <= 1
    # the holdout is the latest events: it starts after every training event
    times = sorted(d["event_time"] for d in labelled)
    assert hold["start_time"] == times[m["training"]["train_rows"]]
    assert set(m["reference"]["features"]) == set(FEATURE_NAMES)
    assert "events_per_second" not in m["training"]
    model = load_model(settings.model_dir, "v2")
    assert model.predict(model.assembler.assemble([])).shape == (0,)
    if shutil.which("gcc") is not None:
        compiled = load_model(settings.model_dir, "v2", compiled_dir=tmp_path / "compiled")
        assert compiled.predictor == "compiled"


def test_same_records_and_seed_give_the_same_model_bytes(
    settings: Settings, labelled: list[dict[str, Any]]
) -> None:
    recs = _records(labelled)
    hashes = [
        retrain_records(recs, settings, RetrainOptions(version=v, rounds=ROUNDS, seed=s)).manifest[
            "model_sha256"
        ]
        for v, s in (("a", 5), ("b", 5), ("c", 6))
    ]
    assert hashes[0] == hashes[1] != hashes[2]


def test_versions_are_immutable_and_incoming_dirs_are_not_versions(
    settings: Settings, labelled: list[dict[str, Any]]
) -> None:
    model_dir = settings.model_dir
    (model_dir / ".incoming-v7-123").mkdir()  # a writer that died half-way
    (model_dir / ".incoming-v7-123" / "model.txt").write_text("half")
    assert next_version(model_dir) == "v2"
    retrain_records(_records(labelled), settings, RetrainOptions(rounds=5))
    with pytest.raises(ModelError, match="immutable"):
        retrain_records(_records(labelled), settings, RetrainOptions(version="v2", rounds=5))
    with pytest.raises(ModelError, match="immutable"):
        v1 = load_model(model_dir, "v1")
        write_version(model_dir, "v1", v1.booster, v1.manifest, np.zeros((1, 15)))
    assert sorted(p.name for p in model_dir.iterdir() if p.is_dir()) == [
        ".incoming-v7-123",
        "v1",
        "v2",
    ]


def test_too_few_events_or_a_missing_class_is_refused(
    settings: Settings, labelled: list[dict[str, Any]]
) -> None:
    with pytest.raises(NotEnoughLabels, match="at least 100"):
        retrain_records(_records(labelled[:50]), settings, RetrainOptions())
    negatives = [{**d, "label": 0} for d in labelled[:500]]
    with pytest.raises(NotEnoughLabels, match="no positive label"):
        retrain_records(_records(negatives), settings, RetrainOptions())


def test_selection_by_offset_and_event_time(
    settings: Settings, labelled: list[dict[str, Any]]
) -> None:
    times = sorted(d["event_time"] for d in labelled)
    since, until = times[500], times[2_500]
    result = retrain_records(
        _records(labelled),
        settings,
        RetrainOptions(Selection(since=since, until=until), rounds=5),
    )
    assert result.counts.events == 2_000
    assert result.manifest["lineage"]["source"]["since"] == since
    assert Selection(from_offset=2, to_offset=4).takes_offset(3)
    assert not Selection(from_offset=2, to_offset=4).takes_offset(4)
    assert parse_time("2026-01-01T00:00:00+00:00") == 1_767_225_600_000


def test_cli_retrain_on_the_embedded_broker(
    settings: Settings, labelled: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    with EmbeddedBroker() as broker:
        broker.create_topics(["labelled"])
        recs = [OutRecord("labelled", d["event_id"].encode(), _b(d)) for d in labelled]
        live = Settings(bootstrap_servers=broker.bootstrap)
        assert publish(live, recs) == len(labelled)
        flags = ["--bootstrap-servers", broker.bootstrap, "--model-dir", str(settings.model_dir)]
        code = main(["retrain", *flags, "--rounds", str(ROUNDS), "--seed", "5"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "wrote" in out and "parent v1" in out and "reading labelled" in err
        assert "training: 30 done" in err
        assert load_model(settings.model_dir, "v2").manifest["lineage"]["label_counts"][
            "records"
        ] == len(labelled)
        assert main(["retrain", *flags, "--from-offset", "10000"]) == 1
        assert "at least 100" in capsys.readouterr().err


def test_retrain_logs_to_mlflow(
    settings: Settings,
    labelled: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 discourages file stores
    from streams.lifecycle.mlflow_log import log_retrain

    result = retrain_records(_records(labelled), settings, RetrainOptions(rounds=5))
    uri = f"file://{tmp_path}/mlruns"
    run_id = log_retrain(uri, result)
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.params["parent"] == "v1" and run.data.params["version"] == "v2"
    assert (
        run.data.metrics["new_holdout_auc"] == result.manifest["lineage"]["holdout"]["new"]["auc"]
    )
    assert "parent_holdout_auc" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient(tracking_uri=uri).list_artifacts(run_id)}
    assert {"model.txt", "manifest.json"} <= artifacts
