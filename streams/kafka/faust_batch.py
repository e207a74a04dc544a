"""faust with batches: input records to a handler a fetch at a time, a table read and
written in bulk, its changelog and the outputs produced without waiting per record.

faust-streaming delivers each record through its conductor, a channel queue and an
agent's stream, hundreds of µs a record here. The joiner keeps faust for what it does well
(the worker, group membership and partition assignment, the table's RocksDB files and
changelog topic, recovery, commits after flushing the producer) and takes its input
records off faust's per-record path:

- :class:`BatchConsumer` hands each fetch of the batch topics to a handler, and
  commits, per partition, the offset after the last record it handled; while a table
  recovers, it applies each fetch of the changelog to it at once, faust's recovery
  seeing only the fetch's last record (its per-record path restored ~11,000 records/s);
- :class:`BatchSender` produces a batch's changelog records in per-partition batches
  and its outputs without awaiting each, and records the changelog offsets delivered.

At-least-once, as faust: the producer is flushed before offsets are committed.

>>> install_batch(app, {"scores", "feedback"}, handler)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

import faust
from faust.types import TP

from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin, OutRecord
from streams.kafka.faust_transport import Consumer, Transport, quiet_reconnects

log = logging.getLogger(__name__)

Records = Mapping[TP, Sequence[Any]]
"""A fetch: aiokafka ``ConsumerRecord``s by topic partition, each in offset order."""
BatchHandler = Callable[[Records], Awaitable[None]]

Change = tuple[str, bytes | None, int]
"""A state change to changelog: key, value (None: deleted), expiry
(:data:`streams.feedback.store.Change`)."""


class BatchConsumer(Consumer):
    """faust's consumer, handing the records of ``batch_topics`` to ``batch_handler``."""

    batch_handler: BatchHandler | None = None
    batch_topics: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._positions: dict[TP, int] = {}  # the offset after the last record handled

    async def _drain_messages(self, fetcher: Any) -> None:
        """faust's fetch loop, a fetch at a time for the batch topics; stopping ends it
        quietly, as faust's own loop does."""
        stopping: tuple[type[BaseException], ...] = (
            asyncio.CancelledError,
            *self.consumer_stopped_errors,
        )
        try:
            await self._drain(fetcher)
        except stopping:
            if self.transport.app.should_stop:
                return
            raise

    async def _drain(self, fetcher: Any) -> None:
        stopped, fetcher_stopped = self._stopped.is_set, fetcher._stopped.is_set
        while not (stopped() or fetcher_stopped()):
            records, active = await self._wait_next_records(1.0)
            if not records or self.should_stop:
                continue
            if not self.flow_active:
                await self.perform_seek()  # as faust does: records of a rebalance are dropped
                continue
            mine: dict[TP, Sequence[Any]] = {}
            for tp, recs in records.items():
                if active is not None and tp not in active:
                    continue
                if tp.topic in self.batch_topics:
                    mine[tp] = recs
                else:
                    await self._restore(tp, recs)
            if mine:
                await self._handle(mine)

    async def _handle(self, records: dict[TP, Sequence[Any]]) -> None:
        assert self.batch_handler is not None
        generation = self.app.consumer_generation_id
        await self.batch_handler(records)
        if self.app.consumer_generation_id != generation:
            return  # rebalanced meanwhile: the new owners read these again
        monitor, now = self.app.monitor, time.monotonic()
        for tp, recs in records.items():
            self._positions[tp] = recs[-1].offset + 1
            self._acked[tp]
            if monitor is not None:  # faust's livelock check reads it: logs errors without
                monitor.stream_inbound_time[tp] = now

    async def _restore(self, tp: TP, records: Sequence[Any]) -> None:
        """Changelog records while a table recovers: applied to the table a fetch at a
        time; the last goes through faust's recovery, which notices the end there."""
        tables: Any = self.app.tables
        recovery = tables.recovery
        table = recovery.tp_to_table.get(tp)
        if table is None or tp not in recovery.active_tps:
            return await self._one_by_one(tp, records)
        seen = recovery.active_offsets.get(tp)
        bulk = records[:-1]
        if seen is not None and bulk and bulk[0].offset <= seen:
            bulk = [r for r in bulk if r.offset > seen]
        if bulk:
            table.apply_changelog_batch([_ChangelogEvent(tp, r) for r in bulk])
            recovery.active_offsets[tp] = self._read_offset[tp] = bulk[-1].offset
        await self._one_by_one(tp, records[-1:])

    async def _one_by_one(self, tp: TP, records: Sequence[Any]) -> None:
        for record in records:
            message = self._to_message(tp, record)
            await self.callback(message)
            self._read_offset[tp] = record.offset

    def _new_offset(self, tp: TP) -> int | None:
        if tp.topic not in self.batch_topics:
            return super()._new_offset(tp)
        position, committed = self._positions.get(tp), self._committed_offset[tp]
        if position is None or (committed is not None and position <= committed):
            return None
        return position

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        if revoked:  # a static member restarted in time has none: its peers neither
            log.info(
                "partitions revoked",
                extra={"partitions": sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked)},
            )
        for tp in revoked:
            self._positions.pop(tp, None)
        await super().on_partitions_revoked(revoked)


class _ChangelogEvent:
    """A changelog record as faust's table and stores read one: an event that is its own
    message (key, value, topic partition, offset)."""

    __slots__ = ("key", "offset", "partition", "topic", "tp", "value")

    def __init__(self, tp: TP, record: Any) -> None:
        self.tp, self.topic, self.partition = tp, tp.topic, tp.partition
        self.key, self.value, self.offset = record.key, record.value, record.offset

    @property
    def message(self) -> _ChangelogEvent:
        return self


class BatchTransport(Transport):
    """faust's aiokafka transport with :class:`BatchConsumer`."""

    Consumer: ClassVar[Any] = BatchConsumer

    def __init__(self, *args: Any, topics: Collection[str], handler: BatchHandler, **kw: Any):
        super().__init__(*args, **kw)
        self.batch_topics, self.batch_handler = frozenset(topics), handler

    def create_consumer(self, callback: Any, **kwargs: Any) -> Any:
        consumer: Any = super().create_consumer(callback, **kwargs)
        consumer.batch_topics, consumer.batch_handler = self.batch_topics, self.batch_handler
        return consumer


def install_batch(app: faust.App, topics: Collection[str], handler: BatchHandler) -> None:
    """Make ``app`` hand the records of ``topics`` to ``handler`` (before it starts)."""
    quiet_reconnects()
    app.transport = BatchTransport(app.conf.broker_consumer, app, topics=topics, handler=handler)


class BatchSender:
    """Produces a batch's changelog records and outputs through the app's producer: one
    aiokafka batch per topic partition, all handed to the producer at once."""

    def __init__(self, app: faust.App, table: Any) -> None:
        self.app, self.table = app, table
        self.changelog = table.changelog_topic.get_topic_name()
        self._partitions: dict[str, int] = {}

    async def send(
        self, outputs: Sequence[OutRecord], changes: Mapping[int, Sequence[Change]]
    ) -> None:
        """Queue everything; faust's flush before a commit waits for the deliveries."""
        producer: Any = self.app.producer
        aio = producer._producer  # aiokafka's producer, for its batch API
        batches: dict[tuple[str, int], _Batch] = {}
        for p, items in changes.items():
            for key, value, _ in items:
                self._add(aio, batches, self.changelog, p, key.encode(), value, None, None)
        for out in outputs:
            partition = out.partition
            if partition is None:
                partition = await self._partition_of(aio, out.topic, out.key)
            ts = out.timestamp_ms
            headers = [(k, v.encode() if isinstance(v, str) else v) for k, v in out.headers or ()]
            self._add(aio, batches, out.topic, partition, out.key, out.value, ts, headers)
        await asyncio.gather(*(b.send() for b in batches.values()))

    def _add(
        self,
        aio: Any,
        batches: dict[tuple[str, int], _Batch],
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        ts: int | None,
        headers: Any,
    ) -> None:
        batch = batches.get((topic, partition))
        if batch is None:
            batch = batches[(topic, partition)] = _Batch(aio, topic, partition, self._persist)
        batch.append(key, value, ts, headers)

    async def _partition_of(self, aio: Any, topic: str, key: bytes | None) -> int:
        """Where the Java client's partitioner (murmur2 of the key) puts ``key``."""
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await aio.partitions_for(topic))
        return partition_for(key, count) if key is not None else random.randrange(count)

    def _persist(self, topic: str, partition: int, last_offset: int) -> None:
        # the local DB holds what the changelog holds up to here: a restart on this host
        # recovers from the offset after it
        if topic == self.changelog:
            self.table.data.set_persisted_offset(TP(topic, partition), last_offset)


class _Batch:
    """Records for one topic partition, as aiokafka batches (a full one starts another)."""

    def __init__(self, aio: Any, topic: str, partition: int, delivered: Any) -> None:
        self.aio, self.topic, self.partition, self.delivered = aio, topic, partition, delivered
        self.builders: list[tuple[Any, int]] = []
        self._new()

    def _new(self) -> None:
        self.builder, self.count = self.aio.create_batch(), 0
        self.builders.append((self.builder, 0))

    def append(self, key: bytes | None, value: bytes | None, ts: int | None, headers: Any) -> None:
        if self.builder.append(key=key, value=value, timestamp=ts, headers=headers) is None:
            self._new()
            self.builder.append(key=key, value=value, timestamp=ts, headers=headers)
        self.count += 1
        self.builders[-1] = (self.builder, self.count)

    async def send(self) -> None:
        """Hand every batch to the producer (in order: one in flight per partition)."""
        for builder, count in self.builders:
            future = await self.aio.send_batch(builder, self.topic, partition=self.partition)

            def done(f: asyncio.Future[Any], count: int = count) -> None:
                if not f.cancelled() and f.exception() is None:
                    self.delivered(self.topic, self.partition, f.result().offset + count - 1)

            future.add_done_callback(done)


def record_of(record: Any) -> InRecord:
    """The record of an aiokafka ``ConsumerRecord`` (timestamp in ms), headers included.

    >>> from types import SimpleNamespace as R
    >>> record_of(R(topic="feedback", partition=1, offset=5, timestamp=1001, key=b"e1",
    ...             value=b"{}", headers=(("trace-id", b"t"),))).origin.timestamp_ms
    1001
    """
    ts = record.timestamp if record.timestamp is not None and record.timestamp > 0 else None
    origin = Origin(record.topic, record.partition, record.offset, ts)
    return InRecord(origin, record.key, record.value, list(record.headers or ()))


def send_arguments(out: OutRecord) -> dict[str, Any]:
    """faust ``send`` arguments for ``out``: header values as bytes (a None value stays
    a null header), the timestamp in seconds, the partition if it has one.

    >>> send_arguments(OutRecord("t", b"k", b"v", [("a", "x"), ("b", None)], 1))["headers"]
    [('a', b'x'), ('b', None)]
    """
    headers = [(k, v.encode() if isinstance(v, str) else v) for k, v in out.headers or ()]
    # faust sends int(seconds * 1000.0): from ms / 1000 that is ms - 1 for some ms
    ts = None if out.timestamp_ms is None else (out.timestamp_ms + 0.5) / 1000
    return {
        "topic": out.topic,
        "key": out.key,
        "value": out.value,
        "partition": out.partition,
        "timestamp": ts,
        "headers": headers or None,
    }
