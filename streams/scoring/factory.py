"""The scorer built from Settings: its pipeline, Kafka I/O, drift monitor and model reloads.

>>> scorer = build_scorer(settings, registry, exactly_once=True)   # doctest: +SKIP
>>> scorer.run(stop)                                               # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from streams.config import Settings
from streams.errors import BrokerError, ModelError, StreamscoreError
from streams.kafka import read_keyed, topic_id, watermarks
from streams.kafka.batch import BatchIO
from streams.kafka.runtime import require_topics
from streams.monitoring.drift import drift_monitor
from streams.ops.metrics import ScorerMetrics
from streams.scoring.account_spill import Spilling
from streams.scoring.account_state import AccountStates, account_states
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline
from streams.scoring.reload import ModelReloader, load, load_or_fallback
from streams.scoring.scorer import Scorer
from streams.scoring.state_restore import Checkpoints, StateRestorer
from streams.scoring.state_store import AccountStore

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from streams.model.artifact import Model

log = logging.getLogger(__name__)

# a restore waits for a dead owner's open transaction: its timeout, and this for the read
_RESTORE_SLACK_S = 30.0


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
        cold_start_route=settings.cold_start_route,
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
    models = load_or_fallback(settings)
    velocity = any(
        m is not None and m.features.computed for m in (models.champion, models.fallback)
    )
    if velocity:
        topics.append(settings.topic_accounts_changelog)
    require_topics(settings, topics)  # and the changelog partitioned as events
    restorer = StateRestorer(partial(read_changelog, settings))
    new_states = partial(velocity_states, settings, restorer)
    states = new_states() if velocity else None
    config = pipeline_config(settings)
    pipeline = ScoringPipeline(models.champion, config, models.challengers, models.fallback, states)
    io = scorer_io(settings, exactly_once)
    metrics = ScorerMetrics(registry)
    reloader = (
        ModelReloader(settings, partial(load_usable, settings), metrics.reloads_refused.inc)
        if settings.model_reload_s
        else None
    )
    drift = drift_monitor(settings, models.champion)
    return Scorer(settings, pipeline, io, metrics, drift, reloader, restorer, new_states)


def load_usable(settings: Settings, version: str) -> Model:
    """A version to swap in while running (:func:`load`); a velocity model only if its
    changelog is there, partitioned as events (ModelError if not: the reloader keeps
    the models in use and tries again at its next check)."""
    model = load(settings, version)
    if model.features.computed:
        try:
            require_topics(settings, [settings.topic_events, settings.topic_accounts_changelog])
        except StreamscoreError as exc:
            raise ModelError(f"velocity model {version} not swapped in: {exc}") from exc
    return model


def velocity_states(settings: Settings, restorer: StateRestorer) -> AccountStates:
    """A velocity model's (empty) state, at start or swapped in: the local store opened
    once (``velocity_store``; the restorer keeps it for checkpoints) and, with
    ``velocity_max_resident_accounts``, holding the accounts beyond that bound."""
    if restorer.checkpoints is None:
        restorer.checkpoints = local_store(settings)
    local = restorer.checkpoints
    bound = settings.velocity_max_resident_accounts
    spilling = Spilling(local.store, bound) if local is not None and bound else None
    return account_states(settings, spilling)


def read_changelog(
    settings: Settings, starts: Mapping[int, int]
) -> dict[int, list[tuple[bytes, bytes | None]]]:
    """The velocity state's changelog records of the partitions in ``starts``, each from
    its offset there to its end; waits out a dead owner's open transaction (up to
    ``transaction_timeout_ms``)."""
    deadline_s = settings.transaction_timeout_ms / 1000 + _RESTORE_SLACK_S
    return read_keyed(settings, settings.topic_accounts_changelog, starts, deadline_s)


def local_store(settings: Settings) -> Checkpoints | None:
    """The velocity state's local store (RocksDB), if ``velocity_store`` asks for one:
    accounts out of memory, and checkpoints if the broker gives the changelog's topic id
    (to tell a topic made again)."""
    if settings.velocity_store == "none":
        return None
    topic = settings.topic_accounts_changelog
    try:
        tid = topic_id(settings, topic)
    except BrokerError as exc:
        tid, why = None, str(exc)
    else:
        why = "the broker gives it no topic id"
    if tid is None:
        log.warning("velocity checkpoints off", extra={"topic": topic, "why": why})
    member = f"{settings.scorer_group_id}-{settings.scorer_instance_id}"
    store = AccountStore(
        settings.scorer_data_dir / member / "velocity", settings.velocity_checkpoint_max_age_s
    )
    return Checkpoints(store, tid, partial(changelog_ends, settings))


def changelog_ends(settings: Settings) -> dict[int, int]:
    """The velocity changelog's partitions' ends (high watermarks)."""
    return {
        p: high for p, (_, high) in watermarks(settings, settings.topic_accounts_changelog).items()
    }


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
