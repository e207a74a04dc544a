"""The scorer built from Settings: its pipeline, Kafka I/O, drift monitor and model reloads.

>>> scorer = build_scorer(settings, registry, exactly_once=True)   # doctest: +SKIP
>>> scorer.run(stop)                                               # doctest: +SKIP
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from streams.config import Settings
from streams.kafka.batch import BatchIO
from streams.kafka.runtime import require_topics
from streams.monitoring.drift import drift_monitor
from streams.ops.metrics import ScorerMetrics
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline
from streams.scoring.reload import ModelReloader, load, load_or_fallback
from streams.scoring.scorer import Scorer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


def pipeline_config(settings: Settings) -> PipelineConfig:
    """The pure pipeline's part of the settings."""
    return PipelineConfig(
        scores_topic=settings.topic_scores,
        dlq_topic=settings.topic_dlq,
        shadow_topic=settings.topic_scores_shadow,
        review_threshold=settings.review_threshold,
        decline_threshold=settings.decline_threshold,
        reasons=settings.reasons,
        reasons_top_k=settings.reasons_top_k,
        canary_guard_margin=settings.canary_guard_margin,
        canary_guard_min_events=settings.canary_guard_min_events,
        max_bytes=settings.max_payload_bytes,
        max_depth=settings.max_depth,
    )


def build_scorer(settings: Settings, registry: CollectorRegistry, exactly_once: bool) -> Scorer:
    """Check topics and model (fail fast), then connect. Nothing is consumed yet."""
    topics = [settings.topic_events, settings.topic_scores, settings.topic_dlq]
    if settings.challengers_max:
        topics.append(settings.topic_scores_shadow)
    require_topics(settings, topics)
    models = load_or_fallback(settings)
    config = pipeline_config(settings)
    pipeline = ScoringPipeline(models.champion, config, models.challengers, models.fallback)
    io = scorer_io(settings, exactly_once)
    metrics = ScorerMetrics(registry)
    reloader = (
        ModelReloader(settings, partial(load, settings), metrics.reloads_refused.inc)
        if settings.model_reload_s
        else None
    )
    drift = drift_monitor(settings, models.champion)
    return Scorer(settings, pipeline, io, metrics, drift, reloader)


def scorer_io(settings: Settings, exactly_once: bool) -> BatchIO:
    """The scorer's consumer and producer; transactional (exactly-once) if asked, a static
    group member (KIP-345) if ``static_membership``: both ids are <group>-<instance id>."""
    member = f"{settings.scorer_group_id}-{settings.scorer_instance_id}"
    static: dict[str, object] = {"group.instance.id": member} if settings.static_membership else {}
    return BatchIO(
        settings,
        settings.scorer_group_id,
        settings.topic_events,
        member if exactly_once else None,
        overlap_commit=settings.overlap_commit,
        consumer_extra=static,
    )
