"""The confluent-kafka layer: the only code that builds or drives confluent-kafka clients.

``clients`` has the factories, topic admin and delivery tracking; ``batch`` the
micro-batch consume → produce → commit unit the scorer runs on. faust (the joiner)
lives in :mod:`streams.joiner`.
"""

from streams.kafka.clients import (
    DeliveryTracker,
    committed_total,
    end_total,
    ensure_topics,
    flush,
    group_offsets,
    make_consumer,
    make_producer,
    produce,
    publish,
    read_topic,
    topic_partitions,
    watermarks,
)

__all__ = [
    "DeliveryTracker",
    "committed_total",
    "end_total",
    "ensure_topics",
    "flush",
    "group_offsets",
    "make_consumer",
    "make_producer",
    "produce",
    "publish",
    "read_topic",
    "topic_partitions",
    "watermarks",
]
