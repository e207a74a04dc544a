"""The online challenger in the joiner: it learns each event's first label (with the
features the scorer logged), never a correction, and publishes versions the registry
accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson

from streams.config import Settings
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin
from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.feedback.app import processor_for, publish_online
from streams.feedback.examples import feedback_record, score_record
from streams.model.features import CONTRACT_LEVELS, FEATURE_NAMES, FeatureAssembler
from streams.model.registry import verify

T0 = 1_767_225_600_000
PARTITIONS = 6


def _records(count: int) -> list[tuple[InRecord, InRecord]]:
    """Score and feedback records of generated events, features as the scorer logs them."""
    clean = generate_events_clean(GeneratorConfig(seed=5, count=count))
    X = FeatureAssembler(CONTRACT_LEVELS).assemble(clean.events)
    out = []
    for i, (row, label) in enumerate(zip(X.tolist(), clean.labels.tolist(), strict=True)):
        eid = f"e{i}"
        features = {n: None if np.isnan(v) else v for n, v in zip(FEATURE_NAMES, row, strict=True)}
        score = score_record(eid, T0 + i, 0.1, features=features, model_version="v1")
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
    settings = Settings(
        online_enabled=True,
        online_min_labels=1_000,
        online_publish_labels=2_000,
        model_dir=tmp_path,
    )
    p = processor_for(settings, {}, PARTITIONS)
    assert p.online is not None
    pairs = _records(5_000)
    published = []
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        p.handle_batch([(s, "scores") for s, _ in chunk] + [(f, "feedback") for _, f in chunk], 0)
        publish_online(p.online, tmp_path)
        published = sorted(d.name for d in tmp_path.iterdir() if d.name.startswith("online-"))
    assert p.online.labels == 5_000  # every first label, once
    assert published == ["online-1", "online-2"]  # at 1,000 (the minimum) and 3,000 labels
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
