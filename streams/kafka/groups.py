"""Consumer groups: their committed offsets, read without joining them.

>>> committed_total(settings, "streamscore-scorer", "events")   # doctest: +SKIP
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.config import Settings
from streams.errors import BrokerError
from streams.kafka.clients import LIBRDKAFKA_LOG, TIMEOUT_S, make_consumer, partitions_of
from streams.kafka.config import librdkafka_config

_COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def committed_offsets(consumer: Consumer, tps: list[TopicPartition]) -> list[TopicPartition]:
    """Committed offsets, retrying what Kafka calls retriable (e.g. a coordinator moving)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            return list(consumer.committed(tps, timeout=TIMEOUT_S))
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            transient = err.retriable() or err.code() in _COORDINATOR_MOVING
            if not transient or time.monotonic() > deadline:
                raise BrokerError(f"cannot read committed offsets: {exc}") from exc
            time.sleep(0.1)  # back off before asking the (new) coordinator again


def group_offsets(
    settings: Settings, group_id: str, topics: list[str]
) -> list[tuple[str, int, int, int, int]]:
    """``(topic, partition, low, high, committed)`` of every partition (committed < 0: none)."""
    # never subscribes; read_uncommitted: a read_committed client's offset fetch waits
    # (KIP-447 "stable offsets") while a dead producer's transaction is still open
    consumer = make_consumer(
        settings, group_id, logger=LIBRDKAFKA_LOG, **{"isolation.level": "read_uncommitted"}
    )
    try:
        tps = []
        for topic in topics:
            parts = partitions_of(consumer, settings, topic, TIMEOUT_S)
            tps += [TopicPartition(topic, p) for p in parts]
        committed = committed_offsets(consumer, tps)
        out = []
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S, cached=False)
            out.append((tp.topic, tp.partition, low, high, tp.offset))
        return out
    finally:
        consumer.close()


def committed_total(settings: Settings, group_id: str, topic: str) -> int:
    """Sum of the committed offsets of ``group_id`` on ``topic`` (unset counts as 0)."""
    return sum(max(committed, 0) for *_, committed in group_offsets(settings, group_id, [topic]))


def group_members(settings: Settings, group_id: str) -> dict[str, set[tuple[str, int]]]:
    """The group's members now: ``{static id, else member id: assigned (topic, partition)}``;
    retries while the coordinator moves or loads (a group just formed)."""
    admin = AdminClient(librdkafka_config(settings, logger=LIBRDKAFKA_LOG))
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        future = admin.describe_consumer_groups([group_id], request_timeout=TIMEOUT_S)[group_id]
        try:
            group = future.result(timeout=TIMEOUT_S)
            break
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            transient = err.retriable() or err.code() in _COORDINATOR_MOVING
            if not transient or time.monotonic() > deadline:
                raise BrokerError(f"cannot describe group {group_id!r}: {exc}") from exc
            time.sleep(0.1)  # back off before asking the (new) coordinator again
    return {
        m.group_instance_id or m.member_id: {
            (tp.topic, tp.partition) for tp in m.assignment.topic_partitions
        }
        for m in group.members
    }
