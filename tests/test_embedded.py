"""The embedded broker (librdkafka's mock cluster): topics, group commits, faust on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import faust
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streams.config import Settings
from streams.kafka import end_total
from streams.kafka.config import faust_config, librdkafka_config
from streams.kafka.embedded import EMBEDDED_PARTITIONS, EmbeddedBroker
from streams.kafka.runtime import connect


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


def _consume(consumer: Consumer, want: int, deadline_s: float = 30.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + deadline_s
    while len(got) < want and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
    return got


def test_topics_are_created_by_metadata(broker: EmbeddedBroker) -> None:
    broker.create_topics(["a", "b.dlq"])
    assert broker.partitions("a") == EMBEDDED_PARTITIONS
    assert broker.partitions("b.dlq") == EMBEDDED_PARTITIONS
    assert broker.partitions("never-created") == 0


def test_group_commit_survives_a_new_consumer(broker: EmbeddedBroker) -> None:
    broker.create_topics(["t"])
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(50):
        producer.produce("t", key=f"k{i % 5}".encode(), value=f"v{i}".encode())
    assert producer.flush(10) == 0
    conf = {
        "bootstrap.servers": broker.bootstrap,
        "group.id": "g",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    first = Consumer(conf)
    first.subscribe(["t"])
    assert sorted(_consume(first, 50)) == sorted(f"v{i}".encode() for i in range(50))
    first.commit(asynchronous=False)
    first.close()
    committed = Consumer(conf).committed(
        [TopicPartition("t", p) for p in range(EMBEDDED_PARTITIONS)], timeout=10
    )
    assert sum(max(tp.offset, 0) for tp in committed) == 50  # unset: negative
    settings = Settings(bootstrap_servers=broker.bootstrap)
    assert end_total(settings, "t") == 50


def test_faust_agent_with_table_runs_on_embedded(broker: EmbeddedBroker) -> None:
    app_id = "embedded-faust-test"
    changelog = f"{app_id}-counts-changelog"
    broker.create_topics(["words", changelog])  # faust may not declare topics here
    settings = Settings(bootstrap_servers=broker.bootstrap)
    app = faust.App(app_id, store="memory://", **faust_config(settings, topic_allow_declare=False))
    words = app.topic("words", key_serializer="raw", value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=EMBEDDED_PARTITIONS)
    seen: list[bytes] = []

    @app.agent(words)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for key, _value in stream.items():
            counts[key] += 1
            seen.append(key)

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(30):
        producer.produce("words", key=f"w{i % 3}".encode(), value=b"x")
    assert producer.flush(10) == 0

    async def run() -> dict[bytes, int]:
        await app.start()
        deadline = time.monotonic() + 60
        while len(seen) < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # yield to the agent; the loop condition is the sync
        result = dict(counts.items())
        await app.stop()
        return result

    assert asyncio.run(run()) == {b"w0": 10, b"w1": 10, b"w2": 10}
    # the table is backed by its changelog topic: every update was written there
    assert end_total(settings, changelog) == 30


def test_on_the_embedded_broker_consumers_wait_10_ms_for_a_fetch() -> None:
    """The mock cluster holds an empty fetch for all of fetch.wait.max.ms, records or
    not: the runtime lowers it there; a real broker keeps librdkafka's 500."""
    assert Settings().consumer_fetch_wait_ms == 500
    with connect(Settings(), create_topics=False) as rt:
        conf = librdkafka_config(rt.settings, **{"group.id": "g"})
    assert conf["fetch.wait.max.ms"] == 10
    assert "fetch.wait.max.ms" not in librdkafka_config(rt.settings)  # a producer
