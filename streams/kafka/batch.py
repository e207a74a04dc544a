"""Micro-batch consume → produce → commit, exactly-once or at-least-once.

(Over 300 lines on purpose: the order of consume, produce and commit under both
guarantees, and the rebalance callbacks that must respect it, read top to bottom in
one class.)

The order, per batch, is the whole point of this module:

exactly-once (transactional producer, KIP-447 consumer-group fencing)
    1. ``begin_transaction``
    2. produce every output record of the batch
    3. ``send_offsets_to_transaction`` with the batch's next offsets
    4. ``commit_transaction``: outputs and input offsets become visible together,
       or (on abort) neither does and the consumer is rewound to the committed
       offsets so the batch is processed again.

    Overlapped (``overlap_commit``): steps 3 and 4 (round trips to the broker, no
    CPU) run in a committer thread while the caller polls and scores the next
    batch (:meth:`BatchIO.committing`, :meth:`BatchIO.wait_commit`); that batch's
    step 1 waits for them (:meth:`BatchIO.settle`). If the commit failed, the batch
    polled meanwhile is dropped, since the rewind takes the consumer back before
    both. Only one transaction is ever open.

at-least-once (idempotent producer, plain commits; the embedded broker's mode)
    1. produce every output record
    2. flush and check every delivery report: nothing unconfirmed, no error
    3. only then commit the input offsets synchronously. A crash between 2 and 3
       re-processes the batch (duplicates possible, loss not).

Rebalances: partitions are only revoked inside :meth:`BatchIO.poll_batch`; a
commit in flight is waited for first, so no transaction is open at a revoke, and
the records of revoked partitions polled before it are dropped from the batch
(their new owner starts from the committed offsets).

>>> io = BatchIO(settings, group_id="g", topic="events", transactional_id="g-0")  # doctest: +SKIP
>>> batch = io.poll_batch(max_size=1000, max_wait_s=0.02)                         # doctest: +SKIP
>>> io.send(outputs, batch)                                                        # doctest: +SKIP
>>> io.settle()  # waits for the commit; raises BatchAborted after a rewind        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, NoReturn

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from streams.config import Settings
from streams.contract.records import InRecord, OutRecord
from streams.errors import BrokerError, CommitWedged
from streams.kafka.clients import (
    DeliveryTracker,
    flush,
    make_consumer,
    make_producer,
    origin_of,
    produce,
    produce_many,
)
from streams.kafka.config import auth_error, librdkafka_config

log = logging.getLogger(__name__)

_TX_TIMEOUT_S = 30.0


class BatchAborted(Exception):
    """The transaction was aborted and the consumer rewound: process the batch again."""


def next_offsets(batch: Sequence[InRecord]) -> list[TopicPartition]:
    """The offsets to commit after ``batch``: last offset + 1 per partition.

    >>> from streams.contract.records import Origin
    >>> batch = [InRecord(Origin("t", 0, 5), None, b""), InRecord(Origin("t", 1, 9), None, b""),
    ...          InRecord(Origin("t", 0, 6), None, b"")]
    >>> [(tp.partition, tp.offset) for tp in next_offsets(batch)]
    [(0, 7), (1, 10)]
    """
    # a partition's records come in offset order, so its last one has the highest
    last = {(r.origin.topic, r.origin.partition): r.origin.offset for r in batch}
    return [TopicPartition(t, p, off + 1) for (t, p), off in sorted(last.items())]


def owned_by(batch: list[InRecord], assigned: set[tuple[str, int]]) -> list[InRecord]:
    """The records of ``batch`` whose (topic, partition) is in ``assigned``, in order.

    >>> from streams.contract.records import Origin
    >>> batch = [InRecord(Origin("t", 0, 5), None, b""), InRecord(Origin("t", 1, 9), None, b"")]
    >>> [r.origin.offset for r in owned_by(batch, {("t", 1)})]
    [9]
    """
    return [r for r in batch if (r.origin.topic, r.origin.partition) in assigned]


class BatchIO:
    """One consumer and one producer moving micro-batches with a chosen guarantee."""

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        topic: str,
        transactional_id: str | None,
        overlap_commit: bool = False,
        consumer_extra: dict[str, object] | None = None,
    ) -> None:
        self.exactly_once = transactional_id is not None
        self._overlap = overlap_commit and self.exactly_once
        # one committer thread: commits stay in order, one transaction at a time; without
        # overlap it delivers too, so that a delivery that never returns is bounded as well
        self._committer = ThreadPoolExecutor(1, "committer")
        self._in_flight: Future[dict[str, float]] | None = None
        self._deadline = 0.0  # monotonic time past which the delivery in flight is wedged
        # the broker aborts a transaction after its timeout; a commit still not back then,
        # and past the client's own call timeout, never will be (librdkafka #5456)
        self._settle_limit_s = settings.transaction_timeout_ms / 1000 + _TX_TIMEOUT_S
        self.wedged = False
        self._revoked = False
        self.consumer: Consumer = make_consumer(settings, group_id, **(consumer_extra or {}))
        # a deleted output topic is an outage to wait out, not one to re-create with the
        # broker's default partitions and configs
        extra: dict[str, object] = {"allow.auto.create.topics": False}
        if transactional_id:
            extra |= {
                "transactional.id": transactional_id,
                "transaction.timeout.ms": settings.transaction_timeout_ms,
                # After a commit the broker answers CONCURRENT_TRANSACTIONS until the
                # commit markers are written; librdkafka retries after this backoff
                # (its default, 100 ms, would be most of the p99 latency at 1k events/s).
                "retry.backoff.ms": settings.transaction_retry_backoff_ms,
                "retry.backoff.max.ms": settings.transaction_retry_backoff_ms,
            }
        self._settings, self._producer_conf = settings, extra
        self.producer = make_producer(settings, **extra)
        self.assigned: set[tuple[str, int]] = set()
        # readiness asks from the HTTP thread: its own handle, never the busy consumer's
        self._admin = AdminClient(librdkafka_config(settings, logger=log))
        if self.exactly_once:
            # fences an older instance with the same id and aborts its open transaction
            self._init_transactions()
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}
        log.info("partitions assigned", extra={"partitions": sorted(self.assigned)})

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        in_flight = self._in_flight  # a batch sent, its outcome not yet settled
        if in_flight is not None:
            self._await(in_flight)  # its outcome is taken by settle(), after the poll
        self._revoked = True
        self.assigned -= {(tp.topic, tp.partition) for tp in partitions}
        parts = [tp.partition for tp in partitions]
        log.info(
            "partitions revoked",
            extra={"partitions": parts, "commit_pending": in_flight is not None},
        )

    def poll_batch(self, max_size: int, max_wait_s: float, linger_s: float = 0.0) -> list[InRecord]:
        """What has arrived, up to ``max_size`` records; waits up to ``max_wait_s`` for one.

        Adaptive: a batch does not wait to fill. Under load the records that came in
        while the last batch was delivered make the next batch large (the commit is
        amortised over many); at a low rate a record goes out as soon as it is read,
        or after ``linger_s`` more of collecting (fewer, larger transactions).
        """
        self._revoked = False
        messages: list[Message] = self.consumer.consume(max_size, 0)
        if not messages:
            messages = self.consumer.consume(1, max_wait_s)
        if messages and len(messages) < max_size:
            messages += self.consumer.consume(max_size - len(messages), linger_s)
        batch: list[InRecord] = []
        append = batch.append
        for msg in messages:
            err = msg.error()
            if err is not None:
                denied = auth_error(err, self._settings, "consuming")
                if denied is not None:  # a topic or group ACL missing: no retry helps
                    raise denied
                if err.fatal():
                    raise BrokerError(f"fatal consumer error: {err}")
                log.warning("consumer error", extra={"error": str(err)})
                continue
            # headers not read: only dead letters need them, from the message (read_headers)
            append(InRecord(origin_of(msg), msg.key(), msg.value(), None, msg))
        return self.owned(batch) if self._revoked else batch

    def poll_more(self, batch: list[InRecord], max_size: int) -> list[InRecord]:
        """``batch`` and what has arrived since, up to ``max_size`` in all, without waiting.

        A revoke meanwhile drops the records of revoked partitions from both.
        """
        more = self.poll_batch(max_size - len(batch), 0)
        return (self.owned(batch) if self._revoked else batch) + more

    @property
    def revoked(self) -> bool:
        """Partitions were revoked during the last poll: records read before it may
        belong to another consumer now (drop them with :meth:`owned`)."""
        return self._revoked

    def owned(self, batch: list[InRecord]) -> list[InRecord]:
        """Records of partitions still assigned; the new owner of the others reads them
        again from the committed offsets."""
        return owned_by(batch, self.assigned)

    def committing(self) -> bool:
        """The batch sent last is still committing (overlapped exactly-once only)."""
        return self._in_flight is not None and not self._in_flight.done()

    def wait_commit(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the commit in flight to end; its outcome is
        still taken by :meth:`settle`."""
        if self._in_flight is not None:
            self._await(self._in_flight, timeout_s)

    def deliver(self, outputs: Sequence[OutRecord], batch: Sequence[InRecord]) -> dict[str, float]:
        """Produce ``outputs`` and commit ``batch``'s offsets, in the documented order.

        Returns the seconds spent producing (until every delivery is confirmed) and
        committing.
        """
        if not batch:
            return {}
        if self.exactly_once:
            return self._deliver_transactional(outputs, batch)
        return self._deliver_at_least_once(outputs, batch)

    def send(self, outputs: Sequence[OutRecord], batch: Sequence[InRecord]) -> None:
        """Start delivering ``batch``'s outputs; :meth:`settle` waits for the outcome.

        With ``overlap_commit`` and exactly-once, the commit runs in the committer
        thread; otherwise this delivers the batch completely, as :meth:`deliver`
        does. Raises :class:`BatchAborted` (rewound: drop the batch) as settle does;
        settles the batch before, if the caller did not.
        """
        self.settle()
        if not self._overlap or not batch:
            done: Future[dict[str, float]] = Future()
            done.set_result(self._bounded(self._submit(self.deliver, outputs, batch)))
            self._in_flight = done
            return
        t0 = time.perf_counter()
        try:
            self.producer.begin_transaction()
            self._produce_all(outputs, None)  # no callbacks: see _deliver_transactional
        except KafkaException as exc:
            self._on_transaction_error(exc)
        except BrokerError as exc:  # a record refused at once (e.g. its topic is gone)
            self._abort(str(exc))
        produced = time.perf_counter() - t0
        offsets, group = next_offsets(batch), self.consumer.consumer_group_metadata()
        self._in_flight = self._submit(self._commit_offsets, offsets, group, produced)

    def settle(self) -> dict[str, float]:
        """Wait for the batch in flight; its stage seconds ({} if none was in flight).

        Raises :class:`BatchAborted` when its transaction was aborted: the consumer
        is rewound, and whatever was polled since is to be dropped.
        """
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return {}
        t0 = time.perf_counter()
        seconds = self._bounded(in_flight)
        return {**seconds, "commit_wait": time.perf_counter() - t0}

    def _submit(self, *call: Any) -> Future[dict[str, float]]:
        """Run ``call`` in the committer thread; it is wedged if not back by the deadline."""
        self._deadline = time.monotonic() + self._settle_limit_s
        return self._committer.submit(*call)

    def _await(self, delivery: Future[dict[str, float]], timeout_s: float | None = None) -> None:
        """Wait for ``delivery`` up to ``timeout_s`` (None: its deadline). Every wait for a
        delivery goes through here: past its deadline, :class:`CommitWedged`."""
        left = self._deadline - time.monotonic()
        wait([delivery], left if timeout_s is None else max(min(timeout_s, left), 0.0))
        if not delivery.done() and time.monotonic() >= self._deadline:
            self.wedged = True
            raise CommitWedged(
                f"a transaction's commit has not returned in {self._settle_limit_s:g} s"
            )

    def _bounded(self, delivery: Future[dict[str, float]]) -> dict[str, float]:
        """``delivery``'s result, waited for until its deadline (then
        :class:`CommitWedged`); a transactional error aborts and rewinds."""
        self._await(delivery)
        try:
            return delivery.result(timeout=0)
        except KafkaException as exc:
            self._on_transaction_error(exc)
            raise  # not reached: _on_transaction_error always raises

    def _commit_offsets(
        self, offsets: list[TopicPartition], group: object, produced: float
    ) -> dict[str, float]:
        """In the committer thread: steps 3 and 4 of the transaction."""
        t0 = time.perf_counter()
        self.producer.send_offsets_to_transaction(offsets, group, _TX_TIMEOUT_S)
        self._commit_transaction()  # flushes: every output is confirmed by the commit
        return {"produce": produced, "commit": time.perf_counter() - t0}

    def broker_reachable(self, timeout_s: float = 2.0) -> bool:
        """True if the broker answers a metadata request (for readiness)."""
        try:
            self._admin.list_topics(timeout=timeout_s)
            return True
        except KafkaException:
            return False

    def _produce_all(self, outputs: Sequence[OutRecord], tracker: DeliveryTracker | None) -> None:
        """Produce ``outputs``: one batch call per topic (and partition, where a record
        names one) for records without headers or timestamp."""
        plain: dict[tuple[str, int | None], list[dict[str, bytes | None]]] = {}
        for out in outputs:
            topic, key, value, headers = out.topic, out.key, out.value, out.headers
            # produce_batch carries neither headers nor timestamps (dead letters have both)
            if headers or out.timestamp_ms is not None:
                produce(self.producer, tracker, topic, key, value, headers, out.timestamp_ms)
            elif (messages := plain.get((topic, out.partition))) is not None:
                messages.append({"key": key, "value": value})
            else:
                plain[topic, out.partition] = [{"key": key, "value": value}]
        for (topic, partition), messages in plain.items():
            produce_many(self.producer, topic, messages, tracker, partition)

    def _deliver_at_least_once(
        self, outputs: Sequence[OutRecord], batch: Sequence[InRecord]
    ) -> dict[str, float]:
        t0 = time.perf_counter()
        tracker = DeliveryTracker()
        try:
            self._produce_all(outputs, tracker)
            flush(self.producer, tracker)  # raises unless every record is confirmed
        except BrokerError as exc:  # nothing committed: the batch comes again
            log.warning("delivery failed; rewinding", extra={"error": str(exc)})
            self._rewind()
            raise BatchAborted(str(exc)) from exc
        t1 = time.perf_counter()
        self.consumer.commit(offsets=next_offsets(batch), asynchronous=False)
        return {"produce": t1 - t0, "commit": time.perf_counter() - t1}

    def _deliver_transactional(
        self, outputs: Sequence[OutRecord], batch: Sequence[InRecord]
    ) -> dict[str, float]:
        t0 = time.perf_counter()
        try:
            self.producer.begin_transaction()
            # no delivery callbacks: commit_transaction fails unless every record of
            # the transaction was delivered, so the commit is the confirmation
            self._produce_all(outputs, None)
            t1 = time.perf_counter()
            self.producer.send_offsets_to_transaction(
                next_offsets(batch), self.consumer.consumer_group_metadata(), _TX_TIMEOUT_S
            )
            self._commit_transaction()  # flushes: every output is confirmed by the commit
        except KafkaException as exc:
            self._on_transaction_error(exc)
        except BrokerError as exc:  # a record refused at once (e.g. its topic is gone)
            self._abort(str(exc))
        return {"produce": t1 - t0, "commit": time.perf_counter() - t1}

    def _commit_transaction(self) -> None:
        deadline = time.monotonic() + _TX_TIMEOUT_S
        while True:
            try:
                self.producer.commit_transaction(_TX_TIMEOUT_S)
                return
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.retriable() and time.monotonic() < deadline:
                    continue
                raise

    def _on_transaction_error(self, exc: KafkaException) -> None:
        err: KafkaError = exc.args[0]
        denied = auth_error(err, self._settings, "in a transaction")
        if denied is not None:  # e.g. an output topic's WRITE ACL missing
            raise denied from exc
        # abortable, and retriable ones too (CONCURRENT_TRANSACTIONS after an abort, a
        # timeout): the batch comes again, with backoff; abort itself fails if it cannot
        if not err.fatal():
            self._abort(str(err))
        # fatal (e.g. fenced by a newer instance with the same transactional id)
        raise BrokerError(f"transactional producer failed: {err}") from exc

    def _abort(self, reason: str) -> NoReturn:
        """Abort the open transaction, rewind, raise :class:`BatchAborted`."""
        log.warning("transaction aborted; rewinding", extra={"error": reason})
        try:
            self.producer.abort_transaction(_TX_TIMEOUT_S)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            # a transaction whose records timed out on a deleted topic cannot be aborted
            # (Kafka 4.1, librdkafka 2.16), nor one whose abort timed out: a new
            # producer's init_transactions aborts it (a fenced one is fatal: raised)
            if err.code() != KafkaError.INVALID_TXN_STATE and not err.retriable():
                raise BrokerError(f"transactional producer failed: {err}") from exc
            self._replace_producer(str(err))
        self._rewind()
        raise BatchAborted(reason)

    def _replace_producer(self, reason: str) -> None:
        """A new transactional producer with the same id: it fences the old one."""
        log.warning("transactional producer replaced", extra={"error": reason})
        old, self.producer = self.producer, make_producer(self._settings, **self._producer_conf)
        old.purge()
        self._init_transactions()

    def _init_transactions(self) -> None:
        """``init_transactions``; AuthError if the transactional id is not allowed."""
        try:
            self.producer.init_transactions(_TX_TIMEOUT_S)
        except KafkaException as exc:
            denied = auth_error(exc.args[0], self._settings, "initialising its transactions")
            if denied is not None:
                raise denied from exc
            raise

    def _rewind(self) -> None:
        """Seek every assigned partition back to its committed offset."""
        assignment = self.consumer.assignment()
        for tp in self.consumer.committed(assignment, timeout=_TX_TIMEOUT_S):
            tp.offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(tp)

    def close(self) -> None:
        """Leave the group and flush; call once the last batch is settled."""
        try:
            # a wedged commit is never waited for
            self._committer.shutdown(wait=not self.wedged, cancel_futures=self.wedged)
            self.consumer.close()
        finally:
            self.producer.flush(10)
