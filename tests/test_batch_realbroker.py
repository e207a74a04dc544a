"""The overlapped commit on the real broker: a transaction that fails while the next
batch is being polled is aborted, the consumer rewinds, and nothing is lost or doubled."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from helpers import isolated_settings

from streams.config import Settings
from streams.contract.records import InRecord, OutRecord
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, make_producer, read_topic
from streams.kafka.batch import BatchAborted, BatchIO
from streams.kafka.config import librdkafka_config

pytestmark = pytest.mark.realbroker

LIMIT = 2048  # max.message.bytes of the topic that refuses the oversized record


@pytest.fixture()
def settings(real_broker: RealBroker) -> Settings:
    return isolated_settings(real_broker.bootstrap, topic_partitions=2)


@pytest.fixture()
def io(settings: Settings) -> Iterator[BatchIO]:
    batch_io = BatchIO(
        settings, settings.scorer_group_id, settings.topic_events, "batch-test", overlap_commit=True
    )
    yield batch_io
    batch_io.close()


def _small_topic(settings: Settings) -> str:
    """A topic whose broker refuses records over LIMIT bytes."""
    name = f"{settings.topic_scores}.small"
    admin = AdminClient(librdkafka_config(settings))
    topic = NewTopic(name, 1, 1, config={"max.message.bytes": str(LIMIT)})
    admin.create_topics([topic])[name].result(30)
    return name


def _write(settings: Settings, values: list[bytes]) -> None:
    producer = make_producer(settings)
    for v in values:
        producer.produce(settings.topic_events, v)
    assert producer.flush(30) == 0


def _poll_values(io: BatchIO, want: set[bytes], deadline_s: float = 60) -> list[InRecord]:
    """Poll until every value in ``want`` has been read; the records read."""
    got: list[InRecord] = []
    deadline = time.monotonic() + deadline_s
    while not want <= {r.value for r in got}:
        assert time.monotonic() < deadline, f"read {len(got)} of {len(want)}"
        got += io.poll_batch(1000, 0.5)
    return got


def test_failed_overlapped_commit_rewinds_past_the_batch_polled_meanwhile(
    settings: Settings, io: BatchIO
) -> None:
    small = _small_topic(settings)
    first = [f"a{i}".encode() for i in range(20)]
    _write(settings, first)
    batch1 = _poll_values(io, set(first))
    # the broker refuses this record (incompressible, over LIMIT): the commit must fail
    io.send([OutRecord(small, None, os.urandom(4 * LIMIT)), OutRecord(settings.topic_scores,
             None, b"aborted")], batch1)  # fmt: skip
    second = [f"b{i}".encode() for i in range(20)]
    _write(settings, second)
    _poll_values(io, set(second))  # polled while the first batch commits (or fails)
    with pytest.raises(BatchAborted):
        io.settle()

    again = _poll_values(io, set(first) | set(second))  # rewound before both batches
    assert sorted(r.value for r in again if r.value) == sorted(first + second)
    io.send([OutRecord(settings.topic_scores, None, r.value) for r in again], again)
    io.settle()
    assert committed_total(settings, settings.scorer_group_id, settings.topic_events) == 40
    scores = sorted(r.value for r in read_topic(settings, settings.topic_scores) if r.value)
    assert scores == sorted(first + second)  # read_committed: nothing of the aborted one
