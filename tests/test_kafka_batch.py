"""The scorer's Kafka layer on the embedded broker: batched produce, adaptive polling,
and the batch-observed latency histogram."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from confluent_kafka import KafkaError, Message
from helpers import ERROR_HEADERS, KCAT_HEADERS
from prometheus_client import CollectorRegistry, generate_latest

from streams.config import Settings
from streams.contract.records import InRecord, OutRecord
from streams.errors import CommitWedged
from streams.kafka import end_total, make_producer, read_topic
from streams.kafka.batch import BatchIO
from streams.kafka.clients import DeliveryTracker, flush, produce_many
from streams.kafka.embedded import EmbeddedBroker
from streams.ops.metrics import ScorerMetrics
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline


@pytest.fixture()
def settings() -> Iterator[Settings]:
    with EmbeddedBroker() as broker:
        broker.create_topics(["in", "out", "dlq"])
        yield Settings(bootstrap_servers=broker.bootstrap, processing_guarantee="at_least_once")


def test_produce_many_retries_what_a_full_queue_refused(settings: Settings) -> None:
    # a 10-message queue refuses most of a 500-message batch at first
    producer = make_producer(settings, **{"queue.buffering.max.messages": 10})
    tracker = DeliveryTracker()
    messages = [{"key": f"k{i}".encode(), "value": b"v"} for i in range(500)]
    produce_many(producer, "out", messages, tracker)
    flush(producer, tracker)
    assert (tracker.sent, tracker.delivered, tracker.errors) == (500, 500, [])
    assert end_total(settings, "out") == 500


def test_produce_many_partitions_keys_like_produce(settings: Settings) -> None:
    partitions: dict[str, dict[bytes, int]] = {"batch": {}, "single": {}}

    def recorder(name: str) -> DeliveryTracker:
        class Recording(DeliveryTracker):
            def __call__(self, err: KafkaError | None, msg: Message) -> None:
                super().__call__(err, msg)
                partitions[name][msg.key() or b""] = msg.partition() or 0

        return Recording()

    producer = make_producer(settings)
    keys = [f"ev-{i}".encode() for i in range(200)]
    batch_tracker = recorder("batch")
    produce_many(producer, "out", [{"key": k, "value": b"v"} for k in keys], batch_tracker)
    flush(producer, batch_tracker)
    single = recorder("single")
    for k in keys:
        producer.produce("out", b"v", k, on_delivery=single)
        single.sent += 1
    flush(producer, single)
    assert partitions["batch"] == partitions["single"]
    assert len(set(partitions["batch"].values())) > 1


def test_poll_batch_takes_what_has_arrived_without_waiting_to_fill(settings: Settings) -> None:
    producer = make_producer(settings)
    for i in range(30):
        producer.produce("in", f"v{i}".encode(), f"k{i}".encode())
    producer.flush(10)
    io = BatchIO(settings, "g", "in", transactional_id=None)
    try:
        got: list[bytes | None] = []
        t0 = time.monotonic()
        while len(got) < 30 and time.monotonic() - t0 < 60:
            got += [r.value for r in io.poll_batch(max_size=5000, max_wait_s=30.0)]
        # a batch waiting to fill 5,000 would have sat for its 30 s wait
        assert time.monotonic() - t0 < 30.0
        assert sorted(got) == sorted(f"v{i}".encode() for i in range(30))
        assert io.poll_batch(max_size=5000, max_wait_s=0.1) == []
    finally:
        io.close()


def test_deliver_sends_plain_and_headered_records(settings: Settings) -> None:
    producer = make_producer(settings)
    producer.produce("in", b"x", b"k")
    producer.flush(10)
    io = BatchIO(settings, "g2", "in", transactional_id=None)
    try:
        batch = []
        t0 = time.monotonic()
        while not batch and time.monotonic() - t0 < 30:
            batch = io.poll_batch(10, 1.0)
        outputs = [OutRecord("out", b"a", b"1"), OutRecord("dlq", b"b", b"2", [("h", b"v")])]
        outputs += [OutRecord("out", f"c{i}".encode(), b"3") for i in range(20)]
        io.deliver(outputs, batch)
    finally:
        io.close()
    assert end_total(settings, "out") == 21
    assert end_total(settings, "dlq") == 1


def test_dead_letters_carry_the_polled_records_headers_and_timestamp(settings: Settings) -> None:
    t = 1_767_225_600_123
    producer = make_producer(settings)
    producer.produce("in", b"{bad", b"k1", headers=KCAT_HEADERS, timestamp=t)
    producer.produce("in", b"{bad", b"k2", timestamp=t + 1)  # no headers
    producer.flush(10)
    io = BatchIO(settings, "g4", "in", transactional_id=None)
    try:
        batch: list[InRecord] = []
        deadline = time.monotonic() + 30
        while len(batch) < 2 and time.monotonic() < deadline:
            batch += io.poll_batch(10, 1.0)
        assert [r.headers for r in batch] == [None, None]  # not read while polling
        result = ScoringPipeline(None, PipelineConfig(dlq_topic="dlq")).process(batch, now_ms=5)
        io.deliver(result.records, batch)
    finally:
        io.close()
    dead = {r.key: r for r in read_topic(settings, "dlq")}
    assert [k for k, _ in dead[b"k1"].headers or ()] == [k for k, _ in KCAT_HEADERS] + ERROR_HEADERS
    assert (dead[b"k1"].headers or [])[: len(KCAT_HEADERS)] == KCAT_HEADERS
    assert [k for k, _ in dead[b"k2"].headers or ()] == ERROR_HEADERS
    assert (dead[b"k1"].origin.timestamp_ms, dead[b"k2"].origin.timestamp_ms) == (t, t + 1)


def test_latency_histogram_counts_a_batch_per_bucket() -> None:
    registry = CollectorRegistry()
    metrics = ScorerMetrics(registry)
    metrics.latency.observe_many(np.array([0.0005, 0.001, 0.003, 0.003, 7.0, 30.0]))
    text = generate_latest(registry).decode()
    name = "streamscore_end_to_end_latency_seconds"
    assert f'{name}_bucket{{le="0.001"}} 2.0' in text
    assert f'{name}_bucket{{le="0.005"}} 4.0' in text
    assert f'{name}_bucket{{le="10.0"}} 5.0' in text
    assert f'{name}_bucket{{le="+Inf"}} 6.0' in text
    assert f"{name}_count 6.0" in text
    assert f"{name}_sum 37.0075" in text


def test_poll_more_adds_what_arrived_to_the_batch(settings: Settings) -> None:
    producer = make_producer(settings)
    io = BatchIO(settings, "g3", "in", transactional_id=None)
    first, later = [f"a{i}".encode() for i in range(5)], [f"b{i}".encode() for i in range(5)]
    try:
        for v in first:
            producer.produce("in", v)
        producer.flush(10)
        batch: list[InRecord] = []
        deadline = time.monotonic() + 30
        while len(batch) < 5 and time.monotonic() < deadline:
            batch += io.poll_batch(100, 1.0)
        for v in later:
            producer.produce("in", v)
        producer.flush(10)
        while len(batch) < 10 and time.monotonic() < deadline:
            batch = io.poll_more(batch, 100)  # never waits: polled until they are fetched
        assert sorted(r.value for r in batch) == sorted(first + later)
    finally:
        io.close()


def test_every_wait_for_a_commit_in_flight_ends_at_its_deadline(settings: Settings) -> None:
    # the scorer's waits during a commit (wait_commit, a revoke) and settle() share the
    # bound: a commit blocked for good in librdkafka ends the process, whichever waits
    io = BatchIO(settings, "g-wedged", "in", transactional_id=None)
    blocked = threading.Event()
    try:
        io._settle_limit_s = 0.2  # the bound is transaction_timeout_ms + 30 s in service
        io._in_flight = io._submit(blocked.wait)
        with pytest.raises(CommitWedged):
            for _ in range(20_000):  # 1 ms steps, as commit_poll_ms does
                assert io.committing()
                io.wait_commit(0.001)
        assert io.wedged
        io._in_flight = io._submit(blocked.wait)
        with pytest.raises(CommitWedged):
            io.settle()
    finally:
        blocked.set()
        io.close()
