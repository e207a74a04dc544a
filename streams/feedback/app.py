"""``streamscore join``: the faust-streaming app around the pure join.

The join itself is :mod:`streams.feedback.join`, fed by :mod:`streams.feedback.processor`.

faust-streaming's ``Stream.join`` is not implemented, so the join is built on one
Table (``join_state``, backed by its changelog topic) updated by one agent that
reads both ``scores`` and ``feedback``. Both are keyed by event id and must have
the same partition count (checked at start), so a score and its feedback meet in
the same partition, and the table's changelog partition is the source partition.

Delivery: at-least-once. faust flushes its producer (outputs and changelog) before
it commits source offsets; a record read again after a crash is recognised by its
offset (:mod:`streams.feedback.join`) and re-emits the byte-identical ``labelled`` records it
emitted before (no wall-clock fields), which is harmless on a topic keyed by event id.

This is the only module that uses faust.

>>> app, processor = build_app(settings, partitions=6)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import faust

from streams.config import Settings
from streams.contract.records import InRecord, Origin, OutRecord
from streams.errors import ConfigError
from streams.feedback.join import Join, JoinConfig
from streams.feedback.processor import JoinProcessor, ProcessorConfig
from streams.kafka.config import faust_config
from streams.kafka.faust_transport import install
from streams.monitoring.quality import OnlineQuality
from streams.ops.metrics import JoinerMetrics, JoinerSnapshot

log = logging.getLogger(__name__)

TABLE = "join_state"
_METRICS_INTERVAL_S = 1.0


def changelog_topic(settings: Settings) -> str:
    """The join table's changelog topic (faust's naming: <app id>-<table>-changelog)."""
    return f"{settings.joiner_group_id}-{TABLE}-changelog"


def check_copartitioned(partitions: dict[str, int]) -> int:
    """The common partition count of the join's inputs; ConfigError if they differ."""
    counts = set(partitions.values())
    if len(counts) != 1:
        detail = ", ".join(f"{t}={n}" for t, n in sorted(partitions.items()))
        raise ConfigError(
            f"the joiner's inputs are not co-partitioned ({detail}): scores and feedback "
            "must have the same partition count and both be keyed by event id"
        )
    return counts.pop()


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """RocksDB memory per partition DB: faust's defaults allow ~2.7 GB per partition
    (three 64 MB memtables and a 2 GB block cache), and RSS would grow with the state
    until then."""
    mb = 1024 * 1024
    return {
        "write_buffer_size": settings.joiner_rocksdb_write_buffer_mb * mb,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.joiner_rocksdb_block_cache_mb * mb,
        "block_cache_compressed_size": settings.joiner_rocksdb_block_cache_mb * mb,
    }


def processor_for(settings: Settings, state: Any, partitions: int) -> JoinProcessor:
    """The pure join processor over ``state`` (a faust Table, or a dict in tests), for
    inputs of ``partitions`` partitions."""
    join = Join(
        JoinConfig.from_settings(settings),
        state,
    )
    quality = OnlineQuality(
        settings.quality_window, settings.review_threshold, settings.quality_cooldown
    )
    config = ProcessorConfig(
        feedback_topic=settings.topic_feedback,
        partitions=partitions,
        misrouted=settings.joiner_misrouted_feedback,
        dlq_topic=settings.topic_feedback_dlq,
        alerts_topic=settings.topic_drift_alerts,
    )
    return JoinProcessor(config, join, quality)


def consumed(msg: Any, value: bytes | None) -> InRecord:
    """The record of a consumed faust message (``timestamp`` in seconds), headers included.

    >>> from types import SimpleNamespace as M
    >>> consumed(M(topic="feedback", partition=1, offset=5, timestamp=1.001,
    ...            headers=[("trace-id", b"t")], key=b"e1"), b"{}").origin.timestamp_ms
    1001
    """
    seconds = msg.timestamp
    ms = round(seconds * 1000) if seconds is not None and seconds > 0 else None
    origin = Origin(msg.topic, msg.partition, msg.offset, ms)
    headers = msg.headers  # pairs from aiokafka; faust's type allows a mapping too
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    return InRecord(origin, msg.key, value, pairs)


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
        "key": out.key,
        "value": out.value,
        "headers": headers or None,
        "timestamp": ts,
        "partition": out.partition,
    }


def snapshot(processor: JoinProcessor) -> JoinerSnapshot:
    """The processor's running totals, for :class:`~streams.ops.metrics.JoinerMetrics`."""
    c = processor.join.counts
    kinds = (
        "joined",
        "corrections",
        "duplicates",
        "duplicate_scores",
        "replayed",
        "reemitted",
        "expired",
    )
    return JoinerSnapshot(
        events={kind: getattr(c, kind) for kind in kinds},
        unmatched=dict(c.unmatched),
        dead_lettered=dict(processor.dead_letters),
        misrouted=dict(processor.misrouted),
        concept_alerts=processor.alerts,
        state_entries=len(processor.join),
        quality=processor.quality.snapshot(),
    )


def build_app(
    settings: Settings,
    partitions: int,
    *,
    topic_allow_declare: bool = True,
    metrics: JoinerMetrics | None = None,
) -> tuple[faust.App, JoinProcessor]:
    """The faust app (not started) and the processor its agent drives."""
    settings.joiner_data_dir.mkdir(parents=True, exist_ok=True)  # faust uses it for any store
    app = faust.App(
        settings.joiner_group_id,
        store=settings.joiner_store,
        datadir=str(settings.joiner_data_dir),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        **faust_config(settings, topic_allow_declare=topic_allow_declare),
    )
    install(app)  # commits past the transaction markers in `scores` (see the module)
    inputs = app.topic(
        settings.topic_scores,
        settings.topic_feedback,
        key_serializer="raw",
        value_serializer="raw",
    )
    table = app.Table(
        TABLE,
        default=None,
        partitions=partitions,
        # str keys in and out, also after recovery from the changelog
        schema=faust.Schema(key_type=str, key_serializer="raw", value_serializer="json"),
        options=rocksdb_options(settings),
    )
    processor = processor_for(settings, table, partitions)
    outputs = {
        name: app.topic(name, key_serializer="raw", value_serializer="raw")
        for name in (
            settings.topic_labelled,
            settings.topic_feedback_unmatched,
            settings.topic_feedback_dlq,
            settings.topic_drift_alerts,
            settings.topic_feedback,
        )  # misrouted feedback is re-routed there
    }

    @app.on_partitions_assigned.connect
    async def _reload(*_args: Any, **_kwargs: Any) -> None:
        processor.index_dirty = True  # the table was (re)loaded for new partitions

    if metrics is not None:

        @app.timer(_METRICS_INTERVAL_S)  # type: ignore[untyped-decorator]
        async def _observe() -> None:
            # on the loop's own thread, so idle periods are reported too; not per record:
            # the quality snapshot is not free, and scrapes are seconds apart
            metrics.observe(snapshot(processor))

    @app.agent(inputs)
    async def join(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            msg = event.message
            rec = consumed(msg, event.value)
            now_ms = int(time.time() * 1000)
            for out in processor.handle(rec, msg.topic == settings.topic_scores, now_ms):
                await outputs[out.topic].send(**send_arguments(out))

    return app, processor


def run_joiner(settings: Settings) -> int:
    """``streamscore join``: check inputs, then run the faust worker until SIGTERM/SIGINT."""
    from streams.kafka.runtime import connect, require_topics
    from streams.ops.http import ObservabilityServer
    from streams.ops.lag import LagCollector
    from streams.ops.metrics import process_registry

    with connect(settings) as rt:
        inputs = [settings.topic_scores, settings.topic_feedback]
        partitions = check_copartitioned(require_topics(rt.settings, inputs))
        if rt.embedded is not None:  # faust may not declare topics there: make its changelog
            rt.embedded.create_topics([changelog_topic(settings)])
        registry = process_registry()
        app, _ = build_app(
            rt.settings,
            partitions,
            topic_allow_declare=not rt.on_embedded,
            metrics=JoinerMetrics(registry),
        )

        def assigned() -> set[tuple[str, int]]:
            return {(tp.topic, tp.partition) for tp in set(app.consumer.assignment())}

        registry.register(LagCollector(rt.settings, settings.joiner_group_id, inputs, assigned))
        checks = lambda: {"partitions_assigned": bool(assigned())}  # noqa: E731
        server = None
        if settings.metrics_port:
            server = ObservabilityServer(
                settings.metrics_port, registry, checks, settings.metrics_host
            ).start()
        worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False)
        try:
            worker.execute_from_commandline()  # handles SIGTERM/SIGINT: stops, commits
        except SystemExit as exc:
            return int(exc.code or 0)
        finally:
            if server is not None:
                server.stop()
    return 0
