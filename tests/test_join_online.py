"""The online challenger in the joiner: it learns each event's first label (with the
features the scorer logged), never a correction, and publishes versions the registry
accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from streams.config import Settings
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin
from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.dev.training import velocity_columns
from streams.errors import ModelError
from streams.feedback.app import processor_for, publish_online
from streams.feedback.examples import feedback_record, score_record
from streams.feedback.processor import JoinProcessor, learned
from streams.model.artifact import load_model
from streams.model.features import (
    CONTRACT_LEVELS,
    EVENT_SET,
    VELOCITY_SET,
    FeatureAssembler,
    FeatureSet,
)
from streams.model.registry import verify
from streams.model.training import write_version
from streams.monitoring.online_learner import OnlineConfig, OnlineLearner
from streams.scoring.reload import check_challenger

T0 = 1_767_225_600_000
PARTITIONS = 6


def _records(
    count: int, features: FeatureSet = EVENT_SET, takeovers: float = 0.0
) -> list[tuple[InRecord, InRecord]]:
    """Score and feedback records of generated events, features as the scorer logs them
    (a velocity model's: its computed features too, from the trainer's code)."""
    clean = generate_events_clean(GeneratorConfig(seed=5, count=count, takeovers=takeovers))
    computed = velocity_columns(clean.events)[0] if features is VELOCITY_SET else None
    X = FeatureAssembler(CONTRACT_LEVELS, features).assemble(clean.events, computed)
    out = []
    for i, (row, label) in enumerate(zip(X.tolist(), clean.labels.tolist(), strict=True)):
        eid = f"e{i}"
        named = zip(features.names, row, strict=True)
        features_of = {n: None if np.isnan(v) else v for n, v in named}
        score = score_record(eid, T0 + i, 0.1, features=features_of, model_version="v1")
        home = partition_for(eid.encode(), PARTITIONS)
        fb = feedback_record(eid, int(label), T0 + i + 1)
        out.append(
            (
                InRecord(Origin("scores", home, i), eid.encode(), orjson.dumps(score)),
                InRecord(Origin("feedback", home, i), eid.encode(), orjson.dumps(fb)),
            )
        )
    return out


def test_the_joiner_learns_first_labels_and_publishes_versions(tmp_path: Path) -> None:
    pairs = _records(5_000)
    p = _learn(pairs, tmp_path)
    assert p.online is not None
    published = sorted(d.name for d in tmp_path.iterdir() if d.name.startswith("online-"))
    assert p.online.labels == 5_000  # every first label, once
    assert published == ["online-1", "online-2"]  # at 2,000 and 4,000 labels
    model = verify(tmp_path, "online-2")
    assert model.predictor == "linear"
    assert p.online.quality()["auc"] > 0.75  # it learned the fraud pattern

    # a correction (another label for a labelled event) is not learned again
    score, _ = pairs[0]
    again = feedback_record("e0", 1, T0 + 10**7, feedback_id="fb-correction")
    fb = InRecord(Origin("feedback", score.origin.partition, 10**6), b"e0", orjson.dumps(again))
    out = p.handle_batch([(fb, "feedback")], 0)
    assert any(r.topic == "labelled" for r in out.records) and p.online.labels == 5_000


def test_the_joiner_learns_nothing_when_the_online_model_is_off() -> None:
    assert processor_for(Settings(), {}, PARTITIONS).online is None


def _learn(pairs: list[tuple[InRecord, InRecord]], model_dir: Path) -> JoinProcessor:
    """The joiner after every pair, in chunks of 500, its learner publishing as it goes."""
    settings = Settings(
        online_enabled=True,
        online_min_labels=1_000,
        online_publish_labels=2_000,
        model_dir=model_dir,
    )
    p = processor_for(settings, {}, PARTITIONS)
    assert p.online is not None
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        p.handle_batch([(s, "scores") for s, _ in chunk] + [(f, "feedback") for _, f in chunk], 0)
        publish_online(p.online, model_dir)
    return p


def test_under_a_velocity_champion_the_learner_learns_the_computed_features_too(
    tmp_path: Path,
) -> None:
    pairs = _records(6_000, VELOCITY_SET, takeovers=0.002)
    learner = _learn(pairs, tmp_path / "velocity").online
    assert learner is not None
    assert learner.features is VELOCITY_SET and learner.labels == 6_000
    version = load_model(tmp_path / "velocity", "online-3")  # at 2,000, 4,000, 6,000 labels
    assert version.features is VELOCITY_SET and version.linear is not None
    weighed = set(version.linear.numeric)
    assert {"count_1h", "amount_vs_mean", "seconds_since_last"} <= weighed

    # the published model predicts what River's model predicts, on the scorer's matrix
    logged = [orjson.loads(s.value)["features"].values() for s, _ in pairs[-200:]]
    X = np.array([[np.nan if v is None else v for v in row] for row in logged])
    river = [learner.model.predict(tuple(row), VELOCITY_SET.names) for row in X.tolist()]
    assert np.allclose(version.linear.predict(X), river, atol=1e-9)

    # a challenger of a velocity champion, and of no event-only one
    champion = load_model(tmp_path / "velocity", "online-1")
    check_challenger(champion, version)
    event_only = _learn(_records(3_000), tmp_path / "event").online
    assert event_only is not None and event_only.features is EVENT_SET
    with pytest.raises(ModelError, match="features differ"):
        check_challenger(champion, load_model(tmp_path / "event", "online-1"))


def test_a_row_of_another_feature_set_starts_the_learner_over() -> None:
    learner = OnlineLearner(OnlineConfig(window=50))
    events = [orjson.loads(s.value) for s, _ in _records(60)]
    wide = [orjson.loads(s.value) for s, _ in _records(40, VELOCITY_SET)]
    rows = [learned({**v, "label": i % 2}) for i, v in enumerate(events)]
    assert learner.learn(rows) == 60 and learner.features is EVENT_SET
    rows = [learned({**v, "label": i % 2}) for i, v in enumerate(wide)]
    assert learner.learn(rows) == 40
    assert learner.features is VELOCITY_SET and learner.labels == 40 and learner.restarts == 1
    assert {len(s.features) for s in learner.window} == {len(VELOCITY_SET.names)}


def test_a_linear_model_weighing_features_its_manifest_lacks_is_refused(tmp_path: Path) -> None:
    learner = OnlineLearner(OnlineConfig(window=200))
    wide = [orjson.loads(s.value) for s, _ in _records(200, VELOCITY_SET)]
    learner.learn([learned({**v, "label": i % 2}) for i, v in enumerate(wide)])
    blob, manifest = learner.export("online-1")
    # the manifest names the event's 15 only; the model weighs the computed ones too
    manifest["features"] = [f for f in manifest["features"] if f.get("source") != "computed"]
    write_version(tmp_path, "online-1", blob, manifest, np.zeros((1, len(EVENT_SET.names))))
    with pytest.raises(ModelError, match="uses features not in its manifest"):
        load_model(tmp_path, "online-1")
