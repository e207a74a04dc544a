"""The settings in help groups: which a command's ``--help`` shows, and how.

Every setting of :class:`streams.config.Settings` is in one group. A group names a few
key settings, shown with their meaning and default, and the rest by flag only: a
command's help stays on one screen, and ``streamscore settings`` and docs/settings.md
have every setting in full. A setting missing from this table (a new one) is shown in
an "other" group until it is placed (tests/test_cli_help.py names it).

>>> [g.title for g in GROUPS if g.name in ("connection", "drift")]
['connection and security', 'drift']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    """Settings shown together: ``key`` ones described, ``more`` ones named."""

    name: str
    title: str
    key: tuple[str, ...]
    more: tuple[str, ...] = ()

    @property
    def settings(self) -> tuple[str, ...]:
        """Every setting of the group, key ones first."""
        return self.key + self.more


GROUPS: tuple[Group, ...] = (
    Group(
        "connection",
        "connection and security",
        ("bootstrap_servers", "security_protocol"),
        (
            "broker_wait_s",
            "sasl_mechanism",
            "sasl_username",
            "sasl_password",
            "ssl_ca_location",
            "ssl_certificate_location",
            "ssl_key_location",
            "ssl_key_password",
        ),
    ),
    Group(
        "topics",
        "topics",
        (),
        (
            "topic_partitions",
            "topic_events",
            "topic_scores",
            "topic_dlq",
            "topic_feedback",
            "topic_feedback_unmatched",
            "topic_feedback_dlq",
            "topic_labelled",
            "topic_drift_alerts",
            "topic_scores_shadow",
            "topic_accounts_changelog",
        ),
    ),
    Group(
        "clients",
        "Kafka clients",
        (),
        (
            "session_timeout_ms",
            "static_membership",
            "consumer_fetch_wait_ms",
            "consumer_queue_max_kbytes",
            "producer_linger_ms",
            "producer_compression",
            "gc_interval_s",
        ),
    ),
    Group(
        "scorer",
        "scorer: batches and transactions",
        ("processing_guarantee", "batch_max_size"),
        (
            "scorer_group_id",
            "scorer_instance_id",
            "batch_max_wait_ms",
            "batch_linger_ms",
            "overlap_commit",
            "commit_poll_ms",
            "commit_part_min",
            "delivery_backoff_max_s",
            "transaction_timeout_ms",
            "transaction_retry_backoff_ms",
        ),
    ),
    Group(
        "scoring",
        "scoring",
        ("review_threshold", "decline_threshold", "reasons"),
        (
            "reasons_top_k",
            "cold_start_route",
            "max_payload_bytes",
            "max_depth",
            "velocity_lateness_ms",
            "velocity_retention_ms",
            "velocity_snapshot_every",
            "velocity_store",
            "velocity_max_resident_accounts",
            "scorer_data_dir",
            "velocity_checkpoint_max_age_s",
        ),
    ),
    Group(
        "model",
        "model",
        ("model_dir", "model_version"),
        (
            "predictor",
            "compiled_model_dir",
            "model_required",
            "model_reload_s",
            "fallback_version",
            "challengers_max",
            "canary_guard_margin",
            "canary_guard_min_events",
        ),
    ),
    Group(
        "drift",
        "drift",
        ("drift_psi_threshold",),
        (
            "drift_enabled",
            "drift_window",
            "drift_step",
            "drift_missing_delta",
            "drift_unseen_threshold",
            "drift_mean_shift_delta",
            "drift_mean_shift_threshold",
            "drift_cooldown",
        ),
    ),
    Group(
        "join",
        "feedback join",
        ("joiner_store", "joiner_data_dir"),
        (
            "joiner_group_id",
            "joiner_instance_id",
            "joiner_rocksdb_write_buffer_mb",
            "joiner_rocksdb_block_cache_mb",
            "join_retention_ms",
            "joiner_misrouted_feedback",
            "joiner_shadow_quality",
        ),
    ),
    Group(
        "quality",
        "online quality and the online challenger",
        (),
        (
            "quality_window",
            "quality_cooldown",
            "estimate_window",
            "estimate_step",
            "estimate_divergence",
            "online_enabled",
            "online_publish_labels",
            "online_min_labels",
            "online_learning_rate",
            "online_window",
        ),
    ),
    Group(
        "lifecycle",
        "model lifecycle",
        (),
        (
            "gate_min_labels",
            "gate_margin",
            "gate_confidence",
            "gate_resamples",
            "retrain_holdout_fraction",
            "retrain_min_labels",
            "autopilot_group_id",
            "autopilot_check_s",
            "mlflow_tracking_uri",
            "actor",
        ),
    ),
    Group("observability", "observability", ("metrics_port", "log_level"), ("metrics_host",)),
)
"""Every help group, in the order help shows them."""

NOTES = {
    "model_dir": "the registry: a directory per version, CURRENT, CHALLENGERS",
    "metrics_port": "Prometheus /metrics, /healthz, /readyz (0: off)",
}
"""What a key setting without a description in Settings means (Literal ones list their
choices)."""

ALL = tuple(g.name for g in GROUPS)
"""Every group's name: for commands that take any setting (``streamscore settings``)."""


def group_of(setting: str) -> str:
    """The group ``setting`` is in ("other" if none).

    >>> group_of("drift_window"), group_of("no_such")
    ('drift', 'other')
    """
    return next((g.name for g in GROUPS if setting in g.settings), "other")
