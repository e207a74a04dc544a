"""confluent-kafka client factories, topic admin, watermarks and delivery tracking.

Everything here is thin I/O. Client configs come from
:func:`streams.config.librdkafka_config`, so security settings apply everywhere.

>>> producer = make_producer(settings)            # doctest: +SKIP
>>> ensure_topics(settings, ["events"])           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.config import Settings, librdkafka_config
from streams.errors import BrokerError
from streams.records import Headers, InRecord, Origin, OutRecord, headers_of

log = logging.getLogger(__name__)

_TIMEOUT_S = 15.0

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,  # no duplicates from producer retries
    # the Java client's partitioner: a key lands on the same partition whoever produces
    # it (Java upstreams, faust's changelogs), which the joiner's co-partitioning needs
    "partitioner": "murmur2_random",
}


# librdkafka's own log lines (connection errors ...) go through Python logging, as JSON.
_LIBRDKAFKA_LOG = logging.getLogger("streams.librdkafka")
_LIBRDKAFKA_LOG.setLevel(logging.WARNING)


def make_producer(settings: Settings, **extra: Any) -> Producer:
    """An idempotent producer; ``extra`` are librdkafka settings merged last."""
    conf = {
        **PRODUCER_DEFAULTS,
        "linger.ms": settings.producer_linger_ms,
        "compression.type": settings.producer_compression,
        "logger": _LIBRDKAFKA_LOG,
        **extra,
    }
    return Producer(librdkafka_config(settings, **conf))


def make_consumer(settings: Settings, group_id: str, **extra: Any) -> Consumer:
    """A consumer with manual commits; ``extra`` are librdkafka settings merged last."""
    conf = {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": settings.session_timeout_ms,
        "logger": _LIBRDKAFKA_LOG,
        **extra,
    }
    return Consumer(librdkafka_config(settings, **conf))


def ensure_topics(settings: Settings, topics: Iterable[str], partitions: int | None = None) -> None:
    """Create missing topics on a real broker and wait until metadata shows them all.

    (On the embedded broker see EmbeddedBroker.create_topics.)
    """
    names = list(topics)
    if not names:
        return
    admin = AdminClient(librdkafka_config(settings, logger=_LIBRDKAFKA_LOG))
    wanted = [NewTopic(t, partitions or settings.topic_partitions, 1) for t in names]
    futures = admin.create_topics(wanted, operation_timeout=_TIMEOUT_S)
    for name, fut in futures.items():
        try:
            fut.result(timeout=_TIMEOUT_S)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {name!r}: {exc}") from exc
    # creation is acknowledged by the controller before every broker's metadata has it
    deadline = time.monotonic() + _TIMEOUT_S
    while any(topic_partitions(settings, t) == 0 for t in names):
        if time.monotonic() > deadline:
            raise BrokerError(f"topics not visible after creation: {names}")
        time.sleep(0.1)  # polling metadata, bounded by the deadline


def topic_partitions(settings: Settings, topic: str) -> int:
    """Partition count of ``topic``; 0 if it does not exist."""
    admin = AdminClient(librdkafka_config(settings, logger=_LIBRDKAFKA_LOG))
    try:
        meta = admin.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
    except KafkaException as exc:
        raise BrokerError(f"broker unreachable at {settings.bootstrap_servers}: {exc}") from exc
    if meta is None or meta.error is not None:
        return 0
    return len(meta.partitions)


def watermarks(settings: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """``{partition: (low, high)}`` offsets of ``topic``."""
    consumer = make_consumer(settings, "streamscore-watermarks", logger=_LIBRDKAFKA_LOG)
    try:
        meta = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT_S)
            for p in sorted(meta.partitions)
        }
    finally:
        consumer.close()


@dataclass
class DeliveryTracker:
    """Counts delivery reports, so a caller can know every produce was confirmed."""

    sent: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.errors.append(str(err))

    @property
    def pending(self) -> int:
        """Produced but not yet reported."""
        return self.sent - self.delivered - len(self.errors)


def produce(
    producer: Producer,
    tracker: DeliveryTracker | None,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None = None,
    timestamp_ms: int | None = None,
) -> None:
    """Produce one record, waiting for queue space instead of failing when the queue is full.

    ``timestamp_ms`` None: the producer's time."""
    kwargs: dict[str, Any] = {"headers": headers or None, "timestamp": timestamp_ms or 0}
    while True:
        try:
            if tracker is None:  # e.g. in a transaction: its commit confirms delivery
                producer.produce(topic, value=value, key=key, **kwargs)
                return
            producer.produce(topic, value=value, key=key, on_delivery=tracker, **kwargs)
            tracker.sent += 1
            return
        except BufferError:
            producer.poll(0.05)  # serve delivery reports to free queue space


def produce_many(
    producer: Producer,
    topic: str,
    messages: list[dict[str, Any]],
    tracker: DeliveryTracker | None = None,
) -> None:
    """Produce ``{"key": ..., "value": ...}`` dicts to ``topic`` in one C call (no headers).

    ``produce_batch`` runs the configured partitioner per message, as ``produce`` does.
    Messages the full queue refused are retried after serving delivery reports; any
    other refusal raises BrokerError. Without a ``tracker`` no Python callback runs per
    message: for transactions, whose commit confirms every delivery.
    """
    pending = messages
    while pending:
        try:
            if tracker is None:
                queued = producer.produce_batch(topic, pending)
            else:
                queued = producer.produce_batch(topic, pending, on_delivery=tracker)
        except BufferError:
            queued = 0
            for m in pending:  # the whole batch was refused
                m["_error"] = _QUEUE_FULL
        if tracker is not None:
            tracker.sent += queued
        if queued == len(pending):
            return
        refused = [m for m in pending if "_error" in m]
        fatal = [m["_error"] for m in refused if m["_error"].code() != KafkaError._QUEUE_FULL]
        if fatal:
            raise BrokerError(f"{len(fatal)} records not queued for {topic}, first: {fatal[0]}")
        for m in refused:
            del m["_error"]
        pending = refused
        producer.poll(0.05)  # serve delivery reports to free queue space


_QUEUE_FULL = KafkaError(KafkaError._QUEUE_FULL)


def flush(producer: Producer, tracker: DeliveryTracker, timeout_s: float = 60.0) -> None:
    """Wait until every produce is confirmed; raise BrokerError on a failed delivery."""
    deadline = time.monotonic() + timeout_s
    while tracker.pending > 0 and time.monotonic() < deadline:
        producer.flush(min(1.0, max(deadline - time.monotonic(), 0.0)))
    if tracker.errors:
        raise BrokerError(f"{len(tracker.errors)} deliveries failed, first: {tracker.errors[0]}")
    if tracker.pending:
        raise BrokerError(f"{tracker.pending} deliveries unconfirmed after {timeout_s:.0f}s")


_COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def committed_offsets(consumer: Consumer, tps: list[TopicPartition]) -> list[TopicPartition]:
    """Committed offsets, retrying what Kafka calls retriable (e.g. a coordinator moving)."""
    deadline = time.monotonic() + _TIMEOUT_S
    while True:
        try:
            return list(consumer.committed(tps, timeout=_TIMEOUT_S))
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
        settings, group_id, logger=_LIBRDKAFKA_LOG, **{"isolation.level": "read_uncommitted"}
    )
    try:
        tps = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics[topic]
            tps += [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        committed = committed_offsets(consumer, tps)
        out = []
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S, cached=False)
            out.append((tp.topic, tp.partition, low, high, tp.offset))
        return out
    finally:
        consumer.close()


def end_total(settings: Settings, topic: str) -> int:
    """Sum of ``topic``'s high watermarks: its records (and commit markers) so far."""
    return sum(high for _, high in watermarks(settings, topic).values())


def committed_total(settings: Settings, group_id: str, topic: str) -> int:
    """Sum of the committed offsets of ``group_id`` on ``topic`` (unset counts as 0)."""
    return sum(max(committed, 0) for *_, committed in group_offsets(settings, group_id, [topic]))


def origin_of(msg: Message) -> Origin:
    """Where a consumed (non-error) message came from."""
    _, ts = msg.timestamp()
    return Origin(
        msg.topic() or "", msg.partition() or 0, msg.offset() or 0, ts if ts > 0 else None
    )


def read_topic(settings: Settings, topic: str, deadline_s: float = 60.0) -> list[InRecord]:
    """Every committed record of ``topic`` up to its current end, without joining a group."""
    consumer = make_consumer(settings, "streamscore-reader")
    try:
        parts = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics[topic].partitions
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), _TIMEOUT_S)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: list[InRecord] = []
        deadline = time.monotonic() + deadline_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                out.append(InRecord(origin_of(msg), msg.key(), msg.value(), headers_of(msg)))
            # positions, not offsets seen: transaction markers occupy offsets no record has
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    ends.pop(tp.partition)
        if ends:
            raise BrokerError(f"reading {topic}: partitions {sorted(ends)} not read to the end")
        return out
    finally:
        consumer.close()


def publish(settings: Settings, records: Iterable[OutRecord]) -> int:
    """Produce ``records`` and wait until every one is confirmed; return how many."""
    producer = make_producer(settings)
    tracker = DeliveryTracker()
    for rec in records:
        produce(producer, tracker, rec.topic, rec.key, rec.value, rec.headers, rec.timestamp_ms)
    flush(producer, tracker)
    return tracker.delivered
