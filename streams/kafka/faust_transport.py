"""faust-streaming's Kafka transport: commits past transaction markers, committed reads.

``scores`` is written in transactions, so each of its partitions has a commit
marker after every transaction: an offset no consumer ever receives. faust notices
such a gap when the next message arrives and records it, so that its commit can
step over it. faust-streaming 0.15.3 records one offset too many: the gap it adds
ends *with the arriving message's own offset*. That message is acked later as well,
so its offset is in faust's acked list twice; the list then splits into a new run
at every marker, and each commit only advances over the first run. With one marker
per scorer transaction, the committed offsets would fall ever further behind and the
list of acked offsets grow without bound, in memory and in the sort at every commit.

:class:`Transport` is faust's aiokafka transport with a consumer whose gap is the
missing offsets only, which reads ``read_committed`` (faust reads uncommitted records
outside its own transactions) and whose fetches the broker answers within 100 ms. It
is installed through the app's public ``transport`` setter (:func:`install`); this is
the one module that knows about these fixes, and the joiner's real-broker tests check
that commits keep up with a transactional input and that aborted scores are not read.

While the broker is away, aiokafka logs every failed reconnect and metadata update,
thousands of lines a second; :func:`install` lets each such line through once every
10 s (:class:`~streams.kafka.clients.RepeatFilter`, as for librdkafka's).

>>> app = faust.App("joiner", broker="kafka://localhost:9092")   # doctest: +SKIP
>>> install(app)                                                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import faust
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from faust.transport.drivers import aiokafka
from faust.types import TP

from streams.config import Settings
from streams.kafka.clients import LIBRDKAFKA_LOG, RepeatFilter
from streams.kafka.config import librdkafka_config


class ConsumerThread(aiokafka.AIOKafkaConsumerThread):
    """faust's thread around aiokafka's consumer, reading committed records only and
    answering a fetch within ``FETCH_MAX_WAIT_MS``."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust reads read_uncommitted outside its own transactions: records of an
        # aborted scorer transaction would be joined
        consumer._isolation_level = "read_committed"
        # faust's 1,500 ms: the broker held each fetch that long while records came in
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


FETCH_MAX_WAIT_MS = 100


class Consumer(aiokafka.Consumer):
    """faust's aiokafka consumer, recording a gap without the message after it, and
    rewinding input partitions that have no committed offset after a recovery."""

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # faust passes the arriving message's offset as ``offset_to`` (inclusive);
        # the gap is the offsets before it
        await super()._add_gap(tp, offset_from, offset_to - 1)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        # faust calls this when table recovery ends, to re-read what the fetcher took
        # from the input partitions during recovery (and dropped). aiokafka only seeks
        # partitions with a committed offset > 0; one without stays past the records
        # fetched meanwhile, and they were never processed (a restarted joiner never
        # saw the feedback that arrived during its recovery). Such a partition starts
        # again where auto_offset_reset says.
        committed = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            changelogs = self.app.tables.changelog_topics
            unread = [tp for tp, off in committed.items() if not off and tp.topic not in changelogs]
            if unread:
                await self._thread.seek_to_beginning(*unread)
        return committed


class Transport(aiokafka.Transport):
    """faust's aiokafka transport with :class:`Consumer`."""

    Consumer: ClassVar[Any] = Consumer


def install(app: faust.App) -> None:
    """Make ``app`` consume through :class:`Transport` (before it starts)."""
    quiet_reconnects()
    app.transport = Transport(app.conf.broker_consumer, app)


def quiet_reconnects() -> None:
    """One filter on every aiokafka logger (a logger's filters see only its own lines):
    a line repeated within 10 s is held back and counted."""
    repeats = RepeatFilter()
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "aiokafka"]
    for name in {"aiokafka", *names}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(repeats)


class BrokerProbe:
    """Whether the broker answers a metadata request: the joiner's readiness asks from the
    HTTP server's thread, through a client of its own (faust's are on the worker's loop)."""

    def __init__(self, settings: Settings, timeout_s: float = 2.0) -> None:
        self._admin = AdminClient(librdkafka_config(settings, logger=LIBRDKAFKA_LOG))
        self.timeout_s = timeout_s

    def __call__(self) -> bool:
        try:
            self._admin.list_topics(timeout=self.timeout_s)
            return True
        except KafkaException:
            return False
