"""The faust joiner with ``scores.shadow`` on the real Apache Kafka broker: shadow scores
get their event's label (per version quality), make no ``labelled`` record, and a
``scores.shadow`` of another partition count stops the joiner from starting."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from helpers import isolated_settings, wait_for

from streams.config import Settings
from streams.dev.realbroker import RealBroker
from streams.errors import ConfigError
from streams.feedback.app import check_copartitioned, input_topics
from streams.feedback.background import BackgroundJoiner
from streams.feedback.examples import feedback_record, score_record, shadow_record
from streams.kafka import ensure_topics, make_producer, read_topic
from streams.kafka.runtime import require_topics

pytestmark = pytest.mark.realbroker

PARTITIONS = 3
T0 = 1_767_225_600_000


@pytest.fixture()
def settings(real_broker: RealBroker, tmp_path: Path) -> Settings:
    return isolated_settings(
        real_broker.bootstrap,
        topic_partitions=PARTITIONS,
        joiner_store="memory://",
        joiner_data_dir=tmp_path / "joiner",
    )


def test_shadow_scores_are_joined_to_labels_and_make_no_record(settings: Settings) -> None:
    s, events = settings, 30
    producer = make_producer(s)
    for i in range(events):
        eid, label = f"e{i}", i % 3 == 0
        sent = [
            (s.topic_feedback, feedback_record(eid, int(label), T0 + 100 + i)),  # first, some
            (s.topic_scores, score_record(eid, T0 + i, 0.6 if label else 0.4)),
            (s.topic_scores_shadow, shadow_record(eid, T0 + i, "v2", 0.9 if label else 0.1)),
        ]
        for topic, value in sent[i % 2 :] + sent[: i % 2]:
            producer.produce(topic, key=eid.encode(), value=orjson.dumps(value))
    assert producer.flush(30) == 0
    with BackgroundJoiner(s, PARTITIONS) as joiner:
        p = joiner.processor
        assert p is not None
        wait_for(lambda: p.join.counts.shadow_labelled == events, 60, "every shadow labelled")
        assert p.handled["shadow"] == events
    assert p.quality.snapshot()["v2"]["roc_auc"] == 1.0
    labelled = {orjson.loads(r.value or b"")["event_id"] for r in read_topic(s, s.topic_labelled)}
    versions = {
        orjson.loads(r.value or b"")["model_version"] for r in read_topic(s, s.topic_labelled)
    }
    assert len(labelled) == events and versions == {"v"}  # one record per event: the deciding


def test_scores_shadow_must_be_copartitioned_too(settings: Settings) -> None:
    s = settings.model_copy(update={"topic_scores_shadow": settings.topic_scores_shadow + ".w"})
    ensure_topics(s, [s.topic_scores_shadow], partitions=PARTITIONS + 1)
    with pytest.raises(ConfigError, match=r"scores\.shadow"):
        check_copartitioned(require_topics(s, input_topics(s)))
    off = s.model_copy(update={"joiner_shadow_quality": False})
    assert check_copartitioned(require_topics(off, input_topics(off))) == PARTITIONS
