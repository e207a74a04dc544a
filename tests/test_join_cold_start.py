"""Cold starts in the joiner (issue 27 part 2): a velocity model's score says whether the
account had history (``cold_start``); its labelled record repeats it, and the joiner
keeps the cold starts' online quality as a slice of its own, exported beside the whole."""

from __future__ import annotations

import random

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin
from streams.contract.schemas import validator
from streams.feedback.app import processor_for, snapshot
from streams.feedback.examples import feedback_record, score_record
from streams.model.features import VELOCITY_SET
from streams.model.metrics import roc_auc
from streams.ops.metrics import JoinerMetrics

T0 = 1_767_225_600_000
PARTITIONS = 3


def _pairs(count: int, seed: int = 27) -> list[tuple[InRecord, InRecord, bool, int, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        eid, cold = f"e{i}", rng.random() < 0.3
        label = int(rng.random() < 0.2)
        score = min(max(rng.gauss(0.3 + 0.3 * label, 0.2), 0.0), 1.0)
        features = {
            n: (None if cold and j >= 15 else float(j)) for j, n in enumerate(VELOCITY_SET.names)
        }
        doc = score_record(
            eid, T0 + i, score, features=features, model_version="v2", cold_start=cold
        )
        home = partition_for(eid.encode(), PARTITIONS)
        fb = feedback_record(eid, label, T0 + i + 1)
        s = InRecord(Origin("scores", home, i), eid.encode(), orjson.dumps(doc))
        f = InRecord(Origin("feedback", home, i), eid.encode(), orjson.dumps(fb))
        out.append((s, f, cold, label, score))
    return out


def test_labelled_records_say_cold_start_and_the_slice_is_the_cold_events_quality() -> None:
    p = processor_for(Settings(quality_window=10_000), {}, PARTITIONS)
    pairs = _pairs(2_000)
    batch = [(s, "scores") for s, *_ in pairs] + [(f, "feedback") for _, f, *_ in pairs]
    out = p.handle_batch(batch, 0)  # type: ignore[arg-type]
    labelled = [orjson.loads(r.value) for r in out.records if r.topic == "labelled"]
    assert len(labelled) == len(pairs)
    check = validator("labelled")
    cold_of = {s.key.decode(): cold for s, _, cold, *_ in pairs if s.key is not None}
    for doc in labelled:
        assert check.is_valid(doc), doc
        assert doc["cold_start"] is cold_of[doc["event_id"]]
    cold = [(label, score) for _, _, c, label, score in pairs if c]
    want = roc_auc(np.array([lb for lb, _ in cold], float), np.array([sc for _, sc in cold]))
    assert p.cold_quality is not None
    got = p.cold_quality.snapshot()["v2"]["roc_auc"]
    assert abs(got - want) < 1e-9
    assert abs(p.quality.snapshot()["v2"]["roc_auc"] - got) > 1e-6  # the whole differs

    registry = CollectorRegistry()
    JoinerMetrics(registry).observe(snapshot(p))
    exported = registry.get_sample_value(
        "streamscore_online_quality_cold_start", {"model_version": "v2", "metric": "roc_auc"}
    )
    assert exported == got


def test_an_event_feature_models_labelled_record_has_no_cold_start() -> None:
    p = processor_for(Settings(), {}, PARTITIONS)
    eid = "plain"
    home = partition_for(eid.encode(), PARTITIONS)
    doc = score_record(eid, T0, 0.4, model_version="v1")
    s = InRecord(Origin("scores", home, 0), eid.encode(), orjson.dumps(doc))
    f = InRecord(
        Origin("feedback", home, 0), eid.encode(), orjson.dumps(feedback_record(eid, 1, T0))
    )
    out = p.handle_batch([(s, "scores"), (f, "feedback")], 0)
    (record,) = [orjson.loads(r.value) for r in out.records if r.topic == "labelled"]
    assert "cold_start" not in record
    assert p.cold_quality is not None and p.cold_quality.snapshot() == {}
