"""Topics: create them, count their partitions, read their watermarks and records.

>>> ensure_topics(settings, ["events"])          # doctest: +SKIP
>>> read_topic(settings, "scores")[0].origin      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.config import Settings
from streams.contract.records import InRecord, headers_of
from streams.errors import BrokerError
from streams.kafka.clients import (
    LIBRDKAFKA_LOG,
    TIMEOUT_S,
    make_consumer,
    origin_of,
    partitions_of,
)
from streams.kafka.config import librdkafka_config

log = logging.getLogger(__name__)


DLQ_RETENTION_MS = 30 * 86_400_000
"""Dead letters are kept 30 days (Kafka's default is 7): time to find the cause, fix it
and replay them (``streamscore dlq replay``)."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: its partitions and its topic configs."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """The topics that are not created with the broker's defaults, and their configs:
    the DLQs kept long, the state and training topics compacted (latest record per key).

    >>> topic_configs(Settings())["labelled"]
    {'cleanup.policy': 'compact'}
    """
    dlq = {"retention.ms": str(DLQ_RETENTION_MS)}
    out = {settings.topic_dlq: dlq, settings.topic_feedback_dlq: dlq}
    for name in (settings.topic_labelled, *settings.compacted_topics()):
        out[name] = {"cleanup.policy": "compact"}
    return out


def copartitioned(settings: Settings) -> list[tuple[str, ...]]:
    """Topics that must have one partition count, each set's reader's topic first: the
    joiner's inputs (a score meets its feedback in the same-numbered partition), and
    the scorer's velocity changelog with ``topic_events`` (a partition's state)."""
    return [
        (settings.topic_feedback, settings.topic_scores, settings.topic_scores_shadow),
        (settings.topic_accounts_changelog, settings.topic_events),
    ]


def plan_topics(
    settings: Settings,
    names: Iterable[str],
    existing: Mapping[str, int],
    partitions: int | None = None,
) -> list[TopicSpec]:
    """The topics of ``names`` not in ``existing`` (name: partitions), each with the
    partition count of an existing topic it is co-partitioned with, else
    ``topic_partitions``, and its configs; ``partitions`` given: that many, always.

    >>> [(t.name, t.partitions) for t in plan_topics(Settings(), ["feedback"], {"scores": 3})]
    [('feedback', 3)]
    """
    configs, count = topic_configs(settings), partitions or settings.topic_partitions
    out = []
    for name in dict.fromkeys(names):
        if name in existing:
            continue
        peers = [t for group in copartitioned(settings) if name in group for t in group]
        counts = [existing[t] for t in peers if existing.get(t) and partitions is None]
        out.append(TopicSpec(name, counts[0] if counts else count, configs.get(name, {})))
    return out


def partition_mismatches(settings: Settings, counts: Mapping[str, int]) -> list[str]:
    """What is wrong, and what to change, for each co-partitioned set whose topics in
    ``counts`` (those that exist) differ, if ``counts`` has the set's reader's topic.

    >>> partition_mismatches(Settings(), {"feedback": 4, "scores": 6})[0].split(":")[0]
    "the joiner's inputs are not co-partitioned (feedback=4, scores=6)"
    """
    out = []
    for group in copartitioned(settings):
        found = {t: counts[t] for t in group if counts.get(t)}
        if group[0] not in found or len(set(found.values())) < 2:
            continue
        most = max(found.values())
        detail = ", ".join(f"{t}={n}" for t, n in found.items())
        fewer = ", ".join(t for t, n in found.items() if n < most)
        what, why = _why(settings, group)
        out.append(
            f"{what} are not co-partitioned ({detail}): {why}. Fix: give {fewer} {most} "
            f"partitions: while empty, `kafka-topics.sh --alter --topic <name> --partitions "
            f"{most}`; else delete it and run `streamscore topics create --topic-partitions "
            f"{most}` (adding partitions to a topic with records moves keys to other partitions)"
        )
    return out


def _why(settings: Settings, group: tuple[str, ...]) -> tuple[str, str]:
    if group[0] == settings.topic_feedback:
        return "the joiner's inputs", "a score meets its feedback in the same-numbered partition"
    return "the velocity changelog and events", "a partition's state is in the same partition"


def ensure_topics(settings: Settings, topics: Iterable[str], partitions: int | None = None) -> None:
    """Create the topics the principal cannot see yet (:func:`plan_topics`: co-partitioned
    with existing ones, the DLQs kept long, ``labelled`` and state compacted), and wait
    until metadata shows them.

    A topic it may not create (no CREATE ACL: it may exist, unseen) is skipped with a
    warning: a command that uses it fails there, naming it. (On the embedded broker see
    EmbeddedBroker.create_topics.)
    """
    admin = AdminClient(librdkafka_config(settings, logger=LIBRDKAFKA_LOG))
    wanted = plan_topics(settings, topics, _visible(admin, settings), partitions)
    if not wanted:
        return
    names = [t.name for t in wanted]
    new = [NewTopic(t.name, t.partitions, 1, config=dict(t.config)) for t in wanted]
    futures = admin.create_topics(new, operation_timeout=TIMEOUT_S)
    for name, fut in futures.items():
        try:
            fut.result(timeout=TIMEOUT_S)
        except KafkaException as exc:
            code = exc.args[0].code()
            if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                log.warning("topic not created: no CREATE ACL", extra={"topic": name})
                names.remove(name)
            elif code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {name!r}: {exc}") from exc
    # creation is acknowledged by the controller before every broker's metadata has it
    deadline = time.monotonic() + TIMEOUT_S
    while any(topic_partitions(settings, t) == 0 for t in names):
        if time.monotonic() > deadline:
            raise BrokerError(f"topics not visible after creation: {names}")
        time.sleep(0.1)  # polling metadata, bounded by the deadline


def existing_topics(settings: Settings) -> dict[str, int]:
    """Every topic the principal may describe, and its partition count."""
    return _visible(AdminClient(librdkafka_config(settings, logger=LIBRDKAFKA_LOG)), settings)


def _visible(admin: AdminClient, settings: Settings) -> dict[str, int]:
    """The topics the principal may describe, and their partition counts."""
    try:
        topics = admin.list_topics(timeout=TIMEOUT_S).topics
    except KafkaException as exc:
        admin.poll(0)  # serves error_cb: refused credentials raise AuthError
        raise BrokerError(f"broker unreachable at {settings.bootstrap_servers}: {exc}") from exc
    return {name: len(meta.partitions) for name, meta in topics.items()}


def topic_partitions(settings: Settings, topic: str, timeout_s: float = TIMEOUT_S) -> int:
    """Partition count of ``topic``; 0 if it does not exist (AuthError if the principal
    may not describe it, or the broker refused its credentials)."""
    # asking an admin (producer) handle about a topic by name makes a broker with
    # auto.create.topics.enable create it: a deleted DLQ would come back with defaults
    conf = librdkafka_config(settings, logger=LIBRDKAFKA_LOG, **{"allow.auto.create.topics": False})
    admin = AdminClient(conf)
    try:
        return len(partitions_of(admin, settings, topic, timeout_s))
    except KafkaException as exc:
        admin.poll(0)  # serves error_cb: refused credentials raise AuthError
        raise BrokerError(f"broker unreachable at {settings.bootstrap_servers}: {exc}") from exc


def watermarks(settings: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """``{partition: (low, high)}`` offsets of ``topic``: the high watermark, every record
    appended, not the last stable offset (a read_committed client's "high", which stays
    behind a transaction until the coordinator has written its markers, after the commit)."""
    consumer = make_consumer(
        settings,
        "streamscore-watermarks",
        logger=LIBRDKAFKA_LOG,
        **{"isolation.level": "read_uncommitted"},
    )
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)
            for p in partitions_of(consumer, settings, topic, TIMEOUT_S)
        }
    finally:
        consumer.close()


def topic_id(settings: Settings, topic: str) -> str | None:
    """Kafka's id of ``topic`` (KIP-516: a topic deleted and made again has a new one);
    None if the broker gives none; BrokerError if it cannot be described."""
    from confluent_kafka import TopicCollection

    admin = AdminClient(librdkafka_config(settings, logger=LIBRDKAFKA_LOG))
    fut = admin.describe_topics(TopicCollection([topic]), request_timeout=TIMEOUT_S)[topic]
    try:
        found = str(fut.result().topic_id or "")
    except KafkaException as exc:
        raise BrokerError(f"cannot describe topic {topic}: {exc}") from exc
    return found if found.strip("A") else None  # an all-zero id: none


def offsets_since(settings: Settings, topic: str, since_ms: int) -> dict[int, int]:
    """``{partition: offset}`` of each partition's first record of ``topic`` whose Kafka
    timestamp is ``since_ms`` or later (the partition's end if none is): where a scan of
    what came since starts. {} if the topic does not exist."""
    consumer = make_consumer(settings, "streamscore-offsets", logger=LIBRDKAFKA_LOG)
    try:
        wanted = [
            TopicPartition(topic, p, since_ms)
            for p in partitions_of(consumer, settings, topic, TIMEOUT_S)
        ]
        found = consumer.offsets_for_times(wanted, timeout=TIMEOUT_S) if wanted else []
        out: dict[int, int] = {}
        for tp in found:
            if tp.error is not None:
                raise BrokerError(f"finding {topic}'s offsets at {since_ms}: {tp.error}")
            if tp.offset < 0:  # no record that late
                tp.offset = consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S)[1]
            out[tp.partition] = tp.offset
        return out
    finally:
        consumer.close()


def end_total(settings: Settings, topic: str) -> int:
    """Sum of ``topic``'s high watermarks: its records (and commit markers) so far."""
    return sum(high for _, high in watermarks(settings, topic).values())


def read_topic(settings: Settings, topic: str, deadline_s: float = 60.0) -> list[InRecord]:
    """Every committed record of ``topic`` up to its current end, without joining a group."""
    out: list[InRecord] = []
    scan_topic(
        settings,
        topic,
        lambda msg: out.append(InRecord(origin_of(msg), msg.key(), msg.value(), headers_of(msg))),
        deadline_s,
    )
    return out


def read_keyed(
    settings: Settings, topic: str, starts: Mapping[int, int], deadline_s: float = 60.0
) -> dict[int, list[tuple[bytes, bytes | None]]]:
    """Every committed (key, value) of the partitions of ``topic`` in ``starts``, from
    the offset given each (0: the start) up to their current end, in order per partition
    (as :func:`scan_topic` reads them); records without a key are skipped."""
    out: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in starts}

    def take(msg: Message) -> None:
        if (key := msg.key()) is not None:
            out[msg.partition() or 0].append((key, msg.value()))

    scan_topic(settings, topic, take, deadline_s, starts)
    return out


def scan_topic(
    settings: Settings,
    topic: str,
    take: Callable[[Message], None],
    deadline_s: float = 60.0,
    partitions: Collection[int] | Mapping[int, int] | None = None,
) -> int:
    """Hand every committed record of ``topic`` (of ``partitions`` only, if given; from
    the offset each maps to, if a mapping) up to its current end to ``take``, a fetch at
    a time, without joining a group or keeping them; how many there were.

    The end is the high watermark, and the read is read_committed: a transaction that is
    committed but whose markers are not written yet is waited for, not skipped (an open
    one, until it ends or ``deadline_s`` passes: BrokerError)."""
    starts = partitions if isinstance(partitions, Mapping) else {}
    ends = {
        p: high
        for p, (low, high) in watermarks(settings, topic).items()
        if high > max(low, starts.get(p, 0)) and (partitions is None or p in partitions)
    }
    consumer = make_consumer(settings, "streamscore-reader")
    try:
        offsets = {p: starts.get(p) or OFFSET_BEGINNING for p in ends}
        consumer.assign([TopicPartition(topic, p, offsets[p]) for p in ends])
        n, deadline = 0, time.monotonic() + deadline_s
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.2):
                if msg.error() is None:
                    take(msg)
                    n += 1
            # positions, not offsets seen: transaction markers occupy offsets no record has
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    ends.pop(tp.partition)
        if ends:
            raise BrokerError(f"reading {topic}: partitions {sorted(ends)} not read to the end")
        return n
    finally:
        consumer.close()
