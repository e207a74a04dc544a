"""confluent-kafka client factories, topic admin, watermarks and delivery tracking.

Everything here is thin I/O. Client configs come from
:func:`streams.config.librdkafka_config`, so security settings apply everywhere.

>>> producer = make_producer(settings)            # doctest: +SKIP
>>> ensure_topics(settings, ["events"])           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    Message,
    Producer,
)
from confluent_kafka.admin import AdminClient

from streams.config import Settings
from streams.contract.records import Headers, Origin, OutRecord
from streams.errors import AuthError, BrokerError
from streams.kafka.config import auth_error, librdkafka_config

log = logging.getLogger(__name__)

TIMEOUT_S = 15.0

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,  # no duplicates from producer retries
    # the Java client's partitioner: a key lands on the same partition whoever produces
    # it (Java upstreams, faust's changelogs), which the joiner's co-partitioning needs
    "partitioner": "murmur2_random",
}


class RepeatFilter(logging.Filter):
    """Passes a line at most once per ``every_s`` (its ``(after N ms in state X)`` timing
    ignored): librdkafka logs every failed reconnect, a few a second against a broker
    that refuses the credentials. The next line passed says how many were held back."""

    _TIMING = re.compile(r" \(after \d+ms in state \w+[^)]*\)")
    _MAX_KEYS = 1_000

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._seen: dict[str, tuple[float, int]] = {}  # line -> (passed at, held back since)
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = self._TIMING.sub("", record.getMessage()), time.monotonic()
        with self._lock:
            passed_at, held = self._seen.get(key, (-self.every_s, 0))
            if now - passed_at < self.every_s:
                self._seen[key] = (passed_at, held + 1)
                return False
            if len(self._seen) >= self._MAX_KEYS:
                self._seen.clear()
            self._seen[key] = (now, 0)
        if held:
            record.repeated = held
        return True


# librdkafka's own log lines (connection errors ...) go through Python logging, as JSON.
LIBRDKAFKA_LOG = logging.getLogger("streams.librdkafka")
LIBRDKAFKA_LOG.setLevel(logging.WARNING)
LIBRDKAFKA_LOG.addFilter(RepeatFilter())
# a probe of a starting broker: every refused connection is expected, none is logged
_SILENT = logging.getLogger("streams.librdkafka.probe")
_SILENT.setLevel(logging.CRITICAL + 1)


def make_producer(settings: Settings, **extra: Any) -> Producer:
    """An idempotent producer; ``extra`` are librdkafka settings merged last."""
    conf = {
        **PRODUCER_DEFAULTS,
        "linger.ms": settings.producer_linger_ms,
        "compression.type": settings.producer_compression,
        "logger": LIBRDKAFKA_LOG,
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
        "logger": LIBRDKAFKA_LOG,
        **extra,
    }
    return Consumer(librdkafka_config(settings, **conf))


@dataclass
class DeliveryTracker:
    """Counts delivery reports, so a caller can know every produce was confirmed."""

    sent: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)
    denied: AuthError | None = None
    """The first delivery an ACL refused (no delivery of it can succeed)."""

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.errors.append(str(err))
        if self.denied is None:
            self.denied = auth_error(err, where=f"writing to {msg.topic()}")

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
    partition: int | None = None,
) -> None:
    """Produce ``{"key": ..., "value": ...}`` dicts to ``topic`` in one C call (no headers).

    ``produce_batch`` runs the configured partitioner per message, as ``produce`` does,
    unless ``partition`` names one for them all (a key in a message dict is ignored).
    Messages the full queue refused are retried after serving delivery reports; any
    other refusal raises BrokerError. Without a ``tracker`` no Python callback runs per
    message: for transactions, whose commit confirms every delivery.
    """
    pending = messages
    while pending:
        try:
            where = -1 if partition is None else partition  # -1: the partitioner's choice
            if tracker is None:
                queued = producer.produce_batch(topic, pending, partition=where)
            else:
                queued = producer.produce_batch(
                    topic, pending, partition=where, on_delivery=tracker
                )
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
    """Wait until every produce is confirmed; raise BrokerError on a failed delivery
    (AuthError at the first one an ACL refused)."""
    deadline = time.monotonic() + timeout_s
    while tracker.pending > 0 and time.monotonic() < deadline and tracker.denied is None:
        producer.flush(min(1.0, max(deadline - time.monotonic(), 0.0)))
    if tracker.denied is not None:
        raise tracker.denied
    if tracker.errors:
        raise BrokerError(f"{len(tracker.errors)} deliveries failed, first: {tracker.errors[0]}")
    if tracker.pending:
        raise BrokerError(f"{tracker.pending} deliveries unconfirmed after {timeout_s:.0f}s")


def partitions_of(
    client: Consumer | Producer | AdminClient, settings: Settings, topic: str, timeout_s: float
) -> list[int]:
    """The partitions of ``topic`` ([] if it does not exist) from ``client``'s metadata;
    AuthError if the principal may not describe it (then it looks missing otherwise).
    KafkaException when the broker does not answer within ``timeout_s``."""
    meta = client.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if meta is None:
        return []
    if meta.error is not None:
        denied = auth_error(meta.error, settings, f"describing {topic}")
        if denied is not None:
            raise denied
        return []
    return sorted(meta.partitions)


def origin_of(msg: Message) -> Origin:
    """Where a consumed (non-error) message came from."""
    _, ts = msg.timestamp()
    return Origin(
        msg.topic() or "", msg.partition() or 0, msg.offset() or 0, ts if ts > 0 else None
    )


def publish(
    settings: Settings,
    records: Iterable[OutRecord],
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Produce ``records`` and wait until every one is confirmed; return how many.
    ``on_sent(n)`` is called every 1,000 records sent (a progress bar)."""
    producer = make_producer(settings)
    tracker = DeliveryTracker()
    for n, rec in enumerate(records, 1):
        produce(producer, tracker, rec.topic, rec.key, rec.value, rec.headers, rec.timestamp_ms)
        if on_sent is not None and n % 1_000 == 0:
            on_sent(n)
    flush(producer, tracker)
    return tracker.delivered


class Probe:
    """Sends a record to ``topic`` until one is acknowledged: the broker is up and takes
    writes (a starting local broker). ``settings`` None: a broker with no security at
    ``bootstrap``.

    >>> probe = Probe("127.0.0.1:9092", "__streamscore_probe")  # doctest: +SKIP
    >>> while not probe.poll(0.2): ...                          # doctest: +SKIP
    """

    def __init__(self, bootstrap: str, topic: str, settings: Settings | None = None) -> None:
        self.topic = topic
        conf = {"bootstrap.servers": bootstrap, "message.timeout.ms": 5000}
        if settings is not None:
            conf = librdkafka_config(settings, **conf)
        # silent: refused connections are expected until the broker listens
        self._producer = Producer(conf, logger=_SILENT)
        # one entry per delivery report; never compare KafkaError objects to None with
        # ==/in: in confluent-kafka 2.16.1 that leaves a stray TypeError pending
        self._acked: list[bool] = []
        self._sent = 0

    def poll(self, timeout_s: float) -> bool:
        """Send a probe if none is in flight, wait up to ``timeout_s``; True once one was
        acknowledged."""
        if len(self._acked) == self._sent:
            self._producer.produce(
                self.topic, b"probe", on_delivery=lambda e, _m: self._acked.append(e is None)
            )
            self._sent += 1
        self._producer.poll(timeout_s)
        return any(self._acked)

    def close(self) -> None:
        """Drop what is still queued."""
        self._producer.purge()
        self._producer.flush(0)
