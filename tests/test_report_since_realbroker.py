"""``streamscore report --since``: on a real broker, only the records whose Kafka
timestamp is that late or later are read (a deployment's topics hold far more than a
report can draw), found by each partition's offsets for that time."""

from __future__ import annotations

import time

import orjson
import pytest
from helpers import isolated_settings

from streams.cli import main
from streams.config import Settings
from streams.contract.dead_letters import H_REASON
from streams.dev.realbroker import RealBroker
from streams.kafka import DeliveryTracker, flush, make_producer, offsets_since, produce
from streams.views.report_data import read_run

pytestmark = pytest.mark.realbroker

HOUR_MS = 3_600_000


def _score(event_id: str, at: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "scored_at": at,
            "event_timestamp": at - 5,
            "score": 0.1,
            "decision": "approve",
            "model_version": "v1",
            "fallback": False,
            "features": {"amount": 12.5},
            "source": {"partition": 0},
        }
    )


def _fill(s: Settings, old: int, new: int, count: int) -> None:
    """``count`` events, scores and dead letters at ``old``, then as many at ``new``."""
    producer, tracker = make_producer(s), DeliveryTracker()
    for at, age in ((old, "old"), (new, "new")):
        for i in range(count):
            key = f"acct-{i}".encode()  # spread over the partitions
            produce(producer, tracker, s.topic_events, key, b"{}", None, at)
            produce(producer, tracker, s.topic_scores, key, _score(f"{age}-{i}", at), None, at)
            reason = [(H_REASON, age.encode())]
            produce(producer, tracker, s.topic_dlq, key, b"{oops", reason, at)
    flush(producer, tracker)


def test_since_reads_only_the_later_records_of_every_topic(real_broker: RealBroker) -> None:
    s = isolated_settings(real_broker.bootstrap, topic_partitions=3)
    now = int(time.time() * 1000)
    _fill(s, now - 2 * HOUR_MS, now, 40)

    everything = read_run(s, ["amount"])
    assert len(everything.events) == len(everything.scores.scored_at) == 80

    recent = read_run(s, ["amount"], since_ms=now - HOUR_MS)
    assert len(recent.events) == 40 and set(recent.scores.scored_at) == {now}
    assert len(recent.scores.rows["v1"]) == 40
    assert [reason for _, _, reason in recent.dead] == ["new"] * 40
    # past the last record: each partition starts at its end, nothing is read
    later = offsets_since(s, s.topic_scores, now + 1)
    assert sum(later.values()) == 80 and len(later) == 3
    assert read_run(s, ["amount"], since_ms=now + 1).scores.scored_at == []


def test_a_since_that_is_no_time_is_refused_with_the_forms_it_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--bootstrap-servers", "localhost:9092", "--since", "yesterday"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--since" in err and "30m" in err and "ISO 8601" in err
