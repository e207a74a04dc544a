"""Everything that talks to Kafka: the only code that builds confluent-kafka clients,
and, with :mod:`streams.feedback.app`, the only code that touches faust's transport
(a test checks both).

- :mod:`~streams.kafka.config`: settings → librdkafka's and faust/aiokafka's configs;
- :mod:`~streams.kafka.clients`: producer and consumer factories, delivery tracking;
- :mod:`~streams.kafka.acls`: ACLs to grant, and what a principal may do;
- :mod:`~streams.kafka.topics`: create topics, read watermarks and records;
- :mod:`~streams.kafka.groups`: committed offsets of a consumer group;
- :mod:`~streams.kafka.batch`: the scorer's micro-batch consume → produce → commit,
  exactly-once or at-least-once;
- :mod:`~streams.kafka.faust_transport`: faust's transport, committing past
  transaction markers;
- :mod:`~streams.kafka.embedded`: librdkafka's mock cluster, in-process;
- :mod:`~streams.kafka.runtime`: connect a process to its broker (embedded or real).

The names below are the ones the rest of streamscore uses.
"""

from streams.kafka.clients import (
    DeliveryTracker,
    flush,
    make_consumer,
    make_producer,
    produce,
    publish,
)
from streams.kafka.groups import committed_total, group_offsets
from streams.kafka.topics import (
    end_total,
    ensure_topics,
    offsets_since,
    read_keyed,
    read_topic,
    scan_topic,
    topic_id,
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
    "offsets_since",
    "produce",
    "publish",
    "read_keyed",
    "read_topic",
    "scan_topic",
    "topic_id",
    "topic_partitions",
    "watermarks",
]
