"""The embedded broker: librdkafka's mock cluster, started in-process.

For the zero-setup demo and fast tests only. It is *not* Kafka, and streamscore
works around what it lacks (seen with confluent-kafka 2.16.1):

- no CreateTopics (no controller): topics are created by metadata requests with
  ``allow.auto.create.topics``, and always get the mock's default of
  :data:`EMBEDDED_PARTITIONS` partitions;
- transactions are accepted but not real (offsets sent in a transaction are not
  stored, aborted records are visible to ``read_committed`` readers), so
  processors run at-least-once with plain commits here;
- it keeps only about 5 MB per partition and silently drops older messages, so
  producers must be paced and a run's summary must compare low watermarks.

The cluster lives as long as the client handle that created it, so keep the
:class:`EmbeddedBroker` alive while anything uses :attr:`EmbeddedBroker.bootstrap`.

>>> with EmbeddedBroker() as broker:
...     broker.create_topics(["events"])
...     broker.partitions("events")
4
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from confluent_kafka import Consumer, KafkaException, Producer

from streams.errors import BrokerError
from streams.kafka.clients import LIBRDKAFKA_LOG

EMBEDDED_PARTITIONS = 4
"""Partitions of every topic on the mock cluster (its fixed default for auto-created topics)."""

_TIMEOUT_S = 10.0


class EmbeddedBroker:
    """An in-process mock Kafka cluster with a real TCP bootstrap address."""

    def __init__(self, num_brokers: int = 1) -> None:
        self._num_brokers = num_brokers
        self._owner: Producer | None = None
        self._bootstrap: str | None = None

    def start(self) -> str:
        """Start the cluster (idempotent) and return its bootstrap address."""
        if self._bootstrap is not None:
            return self._bootstrap
        try:
            self._owner = Producer(
                {
                    "test.mock.num.brokers": self._num_brokers,
                    "bootstrap.servers": "unused",  # replaced by the mock's own address
                    "logger": LIBRDKAFKA_LOG,  # the mock announces itself at NOTICE: warnings only
                }
            )
            brokers = self._owner.list_topics(timeout=_TIMEOUT_S).brokers
        except KafkaException as exc:
            raise BrokerError(f"could not start the embedded mock cluster: {exc}") from exc
        self._bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers.values())
        return self._bootstrap

    @property
    def bootstrap(self) -> str:
        """``host:port`` list of the running cluster."""
        if self._bootstrap is None:
            raise BrokerError("embedded broker is not started")
        return self._bootstrap

    def _admin_consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": "streamscore-embedded-admin",
                "allow.auto.create.topics": True,
                "logger": LIBRDKAFKA_LOG,  # the mock announces itself at NOTICE: warnings only
            }
        )

    def create_topics(self, names: Iterable[str]) -> None:
        """Create topics by metadata request (the mock has no CreateTopics)."""
        consumer = self._admin_consumer()
        try:
            for name in names:
                topic = consumer.list_topics(name, timeout=_TIMEOUT_S).topics.get(name)
                if topic is None or topic.error is not None or not topic.partitions:
                    raise BrokerError(f"embedded broker did not create topic {name!r}: {topic}")
        except KafkaException as exc:
            raise BrokerError(f"embedded broker metadata request failed: {exc}") from exc
        finally:
            consumer.close()

    def partitions(self, topic: str) -> int:
        """Number of partitions of an existing topic (0 if it does not exist)."""
        consumer = self._admin_consumer()
        try:
            meta = consumer.list_topics(timeout=_TIMEOUT_S).topics.get(topic)
            return len(meta.partitions) if meta is not None else 0
        finally:
            consumer.close()

    def stop(self) -> None:
        """Stop the cluster (idempotent). Clients still connected see it disappear."""
        if self._owner is not None:
            self._owner.flush(0)
        self._owner = None  # the mock cluster is destroyed with its owning handle
        self._bootstrap = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
