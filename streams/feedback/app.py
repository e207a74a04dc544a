"""``streamscore join``: the faust-streaming app around the pure join.

The join itself is :mod:`streams.feedback.join`, fed by :mod:`streams.feedback.processor`.

faust-streaming's ``Stream.join`` is not implemented, so the join is built on one
Table (``join_state``, a RocksDB per partition, backed by its changelog topic) that
records of both ``scores`` and ``feedback`` update. Both are keyed by event id and must
have the same partition count (checked at start), so a score and its feedback meet in
the same partition, and the table's changelog partition is the source partition. With
``joiner_shadow_quality``, ``scores.shadow`` (also keyed by event id, and checked the
same way) updates the same entries: the scores of the versions that did not decide.

faust runs the worker, the consumer group, the table's files, changelog and recovery,
and the commits; the records themselves go to the join a fetch at a time
(:mod:`streams.kafka.faust_batch`), not through a faust agent, whose per-record path
cost hundreds of µs a record (measured in ``python -m bench.joiner``).

Delivery: at-least-once. faust flushes its producer (outputs and changelog) before
it commits source offsets; a record read again after a crash is recognised by its
offset (:mod:`streams.feedback.join`) and re-emits the byte-identical ``labelled``
records it emitted before (no wall-clock fields), harmless on a topic keyed by event id.

>>> app, processor = build_app(settings, partitions=6)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import faust

from streams.config import Settings
from streams.errors import ConfigError, ModelError
from streams.feedback.health import StoreFailed, StoreHealth
from streams.feedback.join import Join, JoinConfig
from streams.feedback.processor import JoinProcessor, Kind, ProcessorConfig
from streams.feedback.store import JoinStore
from streams.feedback.tables import JoinTable, table_store
from streams.kafka.config import faust_config
from streams.kafka.faust_batch import BatchSender, Records, install_batch, record_of
from streams.monitoring.estimate import EstimateConfig, PerformanceEstimator
from streams.monitoring.online_learner import OnlineConfig, OnlineLearner
from streams.monitoring.quality import OnlineQuality
from streams.ops.gc_control import Collector
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
            "(and scores.shadow, read with joiner_shadow_quality) must have the same "
            "partition count and all be keyed by event id"
        )
    return counts.pop()


def input_topics(settings: Settings) -> list[str]:
    """The topics the joiner reads: ``scores`` and ``feedback``, and ``scores.shadow``
    when shadow quality is on."""
    topics = [settings.topic_scores, settings.topic_feedback]
    if settings.joiner_shadow_quality:
        topics.append(settings.topic_scores_shadow)
    return topics


def output_topics(settings: Settings) -> list[str]:
    """The topics the joiner writes (besides its own, ``<joiner_group_id>-...``)."""
    return [
        settings.topic_labelled,
        settings.topic_feedback_unmatched,
        settings.topic_feedback_dlq,
        settings.topic_drift_alerts,
    ]


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """RocksDB memory per partition DB: faust's defaults allow ~2.7 GB per partition
    (three 64 MB memtables and a 2 GB block cache), and RSS would grow with the state
    until then. Bloom filters of 10 bits a key, not faust's 3."""
    mb = 1024 * 1024
    return {
        "write_buffer_size": settings.joiner_rocksdb_write_buffer_mb * mb,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.joiner_rocksdb_block_cache_mb * mb,
        "block_cache_compressed_size": settings.joiner_rocksdb_block_cache_mb * mb,
        # each new score looks up a key that is not there: 10 bits a key (~1% false
        # positives, ~1.2 MB of filter per million entries) answer most without a read
        "bloom_filter_size": 10,
    }


def processor_for(
    settings: Settings, state: JoinStore | MutableMapping[Any, Any], partitions: int
) -> JoinProcessor:
    """The pure join processor over ``state`` (the table's store, or a dict in tests),
    for inputs of ``partitions`` partitions."""
    join = Join(
        JoinConfig.from_settings(settings),
        state,
    )
    window = (settings.quality_window, settings.review_threshold, settings.quality_cooldown)
    quality = OnlineQuality(*window)
    cold = OnlineQuality(*window)  # the cold starts' slice of the same labels
    estimate = PerformanceEstimator(
        EstimateConfig.from_settings(settings),
        realised=lambda version: quality.snapshot()[version]["roc_auc"],
    )
    config = ProcessorConfig(
        feedback_topic=settings.topic_feedback,
        partitions=partitions,
        misrouted=settings.joiner_misrouted_feedback,
        dlq_topic=settings.topic_feedback_dlq,
        alerts_topic=settings.topic_drift_alerts,
    )
    online = (
        OnlineLearner(OnlineConfig.from_settings(settings)) if settings.online_enabled else None
    )
    return JoinProcessor(config, join, quality, estimate, online, cold_quality=cold)


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
        "shadow_scores",
        "shadow_copies",
        "shadow_late",
        "shadow_labelled",
    )
    return JoinerSnapshot(
        events={kind: getattr(c, kind) for kind in kinds},
        unmatched=dict(c.unmatched),
        dead_lettered=dict(processor.dead_letters),
        misrouted=dict(processor.misrouted),
        concept_alerts=processor.alerts,
        state_entries=len(processor.join),
        quality=processor.quality.snapshot(),
        cold_start_quality=processor.cold_quality.snapshot() if processor.cold_quality else {},
        estimate=processor.estimate.snapshot() if processor.estimate else {},
        estimate_alerts=processor.estimate.alerts if processor.estimate else 0,
    )


def build_app(
    settings: Settings,
    partitions: int,
    *,
    topic_allow_declare: bool = True,
    metrics: JoinerMetrics | None = None,
    gc_interval_s: float = 0.0,
    store_health: StoreHealth | None = None,
) -> tuple[faust.App, JoinProcessor]:
    """The faust app (not started) and the processor it hands records to.

    ``gc_interval_s`` > 0: Python's collector runs between batches only (the process
    is the joiner's alone; in a shared one, 0 leaves it as it is). ``store_health`` is
    told when the store refuses a write (the batch then fails, uncommitted)."""
    app = _faust_app(settings, topic_allow_declare)
    health = store_health or StoreHealth()
    table: Any = app.tables.add(
        JoinTable(
            app,
            name=TABLE,
            default=None,
            partitions=partitions,
            key_type=bytes,  # raw keys and values: the join encodes its entries itself
            value_type=bytes,
            schema=faust.Schema(key_serializer="raw", value_serializer="raw"),
            options=rocksdb_options(settings),
            beacon=app.tables.beacon,
        )
    )
    table.store_health = health
    processor = processor_for(settings, table_store(table), partitions)
    sender = BatchSender(app, table)
    handle = _batch_handler(settings, processor, sender, gc_interval_s, health)
    # commits past the transaction markers in `scores`, and hands records over in batches
    install_batch(app, set(input_topics(settings)), handle)
    inputs = app.topic(*input_topics(settings), key_serializer="raw", value_serializer="raw")
    app.topics.add(inputs)  # subscribed, as an agent's topic would be

    @app.on_partitions_assigned.connect
    async def _reload(*_args: Any, **_kwargs: Any) -> None:
        processor.index_dirty = True  # the table was (re)loaded for new partitions

    if metrics is not None:

        @app.timer(_METRICS_INTERVAL_S)  # type: ignore[untyped-decorator]
        async def _observe() -> None:
            # on the loop's own thread, so idle periods are reported too; not per record:
            # the quality snapshot is not free, and scrapes are seconds apart
            metrics.observe(snapshot(processor))

    return app, processor


def static_member_id(settings: Settings) -> str | None:
    """The joiner's ``group.instance.id`` (KIP-345), None without ``static_membership``.

    >>> static_member_id(Settings(joiner_group_id="g", joiner_instance_id="joiner-0"))
    'g-joiner-0'
    """
    if not settings.static_membership:
        return None
    return f"{settings.joiner_group_id}-{settings.joiner_instance_id}"


def _faust_app(settings: Settings, topic_allow_declare: bool) -> faust.App:
    settings.joiner_data_dir.mkdir(parents=True, exist_ok=True)  # faust uses it for any store
    return faust.App(
        settings.joiner_group_id,
        # aiokafka's JoinGroup v5 and SyncGroup v3 carry it (faust passes it through)
        consumer_group_instance_id=static_member_id(settings),
        store=settings.joiner_store,
        datadir=str(settings.joiner_data_dir),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        table_standby_replicas=0,  # a standby follows the changelog record by record
        producer_max_batch_size=1 << 20,  # one aiokafka batch per partition and fetch
        consumer_max_fetch_size=4 << 20,  # larger fetches: a restore reads ~130,000 records/s
        **faust_config(settings, topic_allow_declare=topic_allow_declare),
    )


def _batch_handler(
    settings: Settings,
    processor: JoinProcessor,
    sender: BatchSender,
    gc_interval_s: float,
    health: StoreHealth,
) -> Callable[[Records], Awaitable[None]]:
    """What a fetch of the inputs goes through: the join, then its outputs and changes.
    A store that refuses the batch's writes fails it before anything is sent (nor
    committed): the worker stops (:mod:`streams.feedback.health`)."""
    # per partition, its scores, then shadow scores, then feedback: more feedback finds both
    kinds: dict[str, Kind] = {
        settings.topic_scores: "scores",
        settings.topic_scores_shadow: "shadow",
        settings.topic_feedback: "feedback",
    }
    rank = {topic: n for n, topic in enumerate(kinds)}
    collector: list[Collector] = []  # made at the first batch: what start-up built is frozen

    async def handle(records: Records) -> None:
        ordered = sorted(records.items(), key=lambda kv: (kv[0].partition, rank[kv[0].topic]))
        batch = [(record_of(r), kinds[tp.topic]) for tp, recs in ordered for r in recs]
        try:
            out = processor.handle_batch(batch, int(time.time() * 1000))
        except StoreFailed as exc:
            health.failed(exc)
            log.error("join store write failed; stopping", extra={"error": str(exc)})
            raise
        await sender.send(out.records, out.changes)
        if processor.online is not None:
            publish_online(processor.online, settings.model_dir)
        if not collector:
            collector.append(Collector(gc_interval_s))
        collector[0].between_batches()

    return handle


def publish_online(learner: OnlineLearner, model_dir: Path) -> None:
    """A new ``online-<n>`` version once enough labels were learned since the last; a
    failure (e.g. a read-only models/) is logged and tried again at the next batch."""
    try:
        path = learner.publish(model_dir)
    except (ModelError, OSError) as exc:
        log.warning("online model not published", extra={"error": str(exc)})
        return
    if path is not None:
        log.info("online model published", extra={"version": path.name, **learner.quality()})


def make_worker(app: faust.App, settings: Settings) -> faust.Worker:
    """faust's worker around ``app``: it handles SIGTERM/SIGINT (stops, commits)."""
    return faust.Worker(app, loglevel=settings.log_level, override_logging=False)


def run_joiner(settings: Settings) -> int:
    """``streamscore join`` (:func:`streams.feedback.worker.run`)."""
    from streams.feedback.worker import run  # the process around the app

    return run(settings)
