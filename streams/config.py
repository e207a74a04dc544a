"""The one settings object.

Settings come from ``STREAMSCORE_*`` environment variables, overridden by CLI
flags; they are built once at the entry point (:mod:`streams.cli`) and passed
down. No other module reads the environment. Every sub-config (the pipeline's, the
join's, the drift monitor's) is derived from it; :mod:`streams.kafka.config` maps it
to the Kafka clients' configs.

>>> s = Settings(bootstrap_servers="127.0.0.1:9092", topic_events="ev")
>>> s.topic_events, s.is_embedded
('ev', False)
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED = "embedded"
"""``bootstrap_servers`` value that means: start librdkafka's mock cluster in-process."""

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
ReasonsMode = Literal["off", "flagged", "all"]
ColdStartRoute = Literal["model", "fallback", "review"]
"""Which scores carry reason codes: none, review and decline decisions, or every one."""


class Settings(BaseSettings):
    """Everything a streamscore process can be told. Frozen: pass it down, never mutate."""

    model_config = SettingsConfigDict(env_prefix="STREAMSCORE_", frozen=True, extra="forbid")

    # --- broker and security -------------------------------------------------
    bootstrap_servers: str = Field(
        EMBEDDED, description="host:port list, or 'embedded' for the in-process mock cluster"
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None

    # --- topics --------------------------------------------------------------
    topic_events: str = "events"
    topic_scores: str = "scores"
    topic_dlq: str = "events.dlq"
    topic_feedback: str = "feedback"
    topic_feedback_unmatched: str = "feedback.unmatched"
    topic_feedback_dlq: str = "feedback.dlq"
    topic_labelled: str = "labelled"
    topic_drift_alerts: str = "drift.alerts"
    topic_scores_shadow: str = "scores.shadow"
    topic_accounts_changelog: str = Field(
        "",
        description="the scorer's velocity state per account: compacted, as many partitions "
        "as topic_events; empty: <scorer_group_id>-accounts-changelog (a group's own: another "
        "group reading events again must not restore it)",
    )
    topic_partitions: int = Field(6, ge=1, description="partitions when streamscore creates topics")

    # --- processors ----------------------------------------------------------
    scorer_group_id: str = "streamscore-scorer"
    joiner_group_id: str = "streamscore-joiner"
    session_timeout_ms: int = Field(
        10_000, ge=1_000, description="a dead consumer's partitions move after this long"
    )
    batch_max_size: int = Field(5000, ge=1, le=100_000, description="most records in a batch")
    # librdkafka's own default, stated: a broker answers a fetch once records arrive
    consumer_fetch_wait_ms: int = Field(
        500,
        ge=0,
        le=60_000,
        description="librdkafka fetch.wait.max.ms of every consumer: the longest a broker "
        "holds a fetch with no records (the embedded broker's: 10)",
    )
    # librdkafka's own default, stated: a consumer under a backlog holds this much (and
    # one fetch per partition) ahead of processing, however long the backlog grows
    consumer_queue_max_kbytes: int = Field(
        65_536,
        ge=1,
        le=2_097_151,
        description="librdkafka queued.max.messages.kbytes of every consumer: records "
        "fetched ahead of processing, at most this many KiB (plus one fetch per partition)",
    )
    batch_max_wait_ms: int = Field(
        20, ge=0, le=60_000, description="with nothing to score, wait this long for a record"
    )
    batch_linger_ms: float = Field(
        0, ge=0, le=60_000, description="after the first record, collect this long more"
    )
    overlap_commit: bool = Field(
        True, description="exactly-once: score the next batch while the last one commits"
    )
    commit_poll_ms: float = Field(
        1.0,
        ge=0,
        le=1_000,
        description="overlap_commit: during a commit, take in and score what arrived this "
        "often (0: a batch smaller than batch_max_size waits for the commit first)",
    )
    commit_part_min: int = Field(
        64,
        ge=1,
        le=100_000,
        description="commit_poll_ms: score what was taken in during a commit once this many "
        "records wait; fewer are scored when the commit is through",
    )
    gc_interval_s: float = Field(
        1.0,
        ge=0,
        description="the scorer and joiner run Python's GC between batches this often (0: auto)",
    )
    # 0, not librdkafka's 5: a transaction's records then go out while its offsets are
    # sent, not at the commit: ~0.5 ms less commit at 5,000 events/s, the same throughput
    producer_linger_ms: float = Field(
        0, ge=0, le=10_000, description="librdkafka linger.ms: wait to fill produce batches"
    )
    producer_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "lz4", description="compression of produced batches"
    )
    processing_guarantee: Literal["exactly_once", "at_least_once"] = Field(
        "exactly_once", description="exactly_once needs a real broker; embedded runs at_least_once"
    )
    scorer_instance_id: str = Field(
        default_factory=socket.gethostname,
        description="stable per scorer process: its transactional.id is <group>-<instance id>",
    )
    static_membership: bool = Field(
        True,
        description="join the group as a static member (group.instance.id, KIP-345): a "
        "process restarted within session_timeout_ms gets its partitions back, no rebalance",
    )
    delivery_backoff_max_s: float = Field(
        5.0, gt=0, description="the longest wait between two failed deliveries of a batch"
    )
    broker_wait_s: float = Field(
        0, ge=0, description="at start, wait this long for an unreachable broker (0: fail at once)"
    )
    transaction_timeout_ms: int = Field(
        60_000, ge=1_000, description="how long a dead scorer's open transaction blocks readers"
    )
    transaction_retry_backoff_ms: int = Field(
        5, ge=1, le=1_000, description="retry delay after the broker's CONCURRENT_TRANSACTIONS"
    )
    review_threshold: float = Field(0.2, ge=0, le=1, description="score >= this: review")
    decline_threshold: float = Field(0.6, ge=0, le=1, description="score >= this: decline")
    cold_start_route: ColdStartRoute = Field(
        "model",
        description="a velocity model's cold starts (accounts without history): model decides; "
        "fallback: the fallback rules score them; review: an approve becomes review",
    )
    reasons: ReasonsMode = Field(
        "flagged", description="reason codes in scores: review and decline (flagged), all, off"
    )
    reasons_top_k: int = Field(3, ge=1, le=64, description="reason codes per explained score")
    max_payload_bytes: int = Field(64 * 1024, ge=1, description="larger events: too_large")
    max_depth: int = Field(16, ge=1, description="deeper nesting in events: too_deep")

    # --- velocity features (in the scorer, docs/velocity-features.md) ---------------
    velocity_lateness_ms: int = Field(
        3_600_000,
        ge=0,
        description="an event more than this older (event time) than its account's latest "
        "earlier one gets no velocity features",
    )
    velocity_retention_ms: int = Field(
        30 * 86_400_000,
        ge=1,
        description="an account with no event for this long (event time) starts cold",
    )
    velocity_snapshot_every: int = Field(
        16,
        ge=1,
        le=255,
        description="an account's changelog record is its whole state once every this many "
        "batches that touch it, and only the batch's events in between",
    )
    velocity_store: Literal["rocksdb", "none"] = Field(
        "rocksdb",
        description="local checkpoints of the velocity state (RocksDB, written at a clean "
        "stop): a restart restores from them and the changelog written since; none: from "
        "the whole changelog",
    )
    velocity_max_resident_accounts: int = Field(
        250_000,
        ge=0,
        description="with velocity_store rocksdb: beyond this many accounts in memory, those "
        "least recently touched move to the local store until an event of theirs comes; "
        "0: all in memory",
    )
    scorer_data_dir: Path = Field(
        Path("var/scorer"),
        description="where the scorer keeps its checkpoints, per group and instance id",
    )
    velocity_checkpoint_max_age_s: int = Field(
        12 * 3600,
        ge=0,
        description="an older checkpoint is not used; keep it below the changelog's "
        "delete.retention.ms (Kafka's default: 24 h), after which compaction drops tombstones",
    )

    # --- drift monitoring (in the scorer) ---------------------------------------------
    drift_enabled: bool = True
    drift_window: int = Field(1_000, ge=10, description="events in a drift distance window")
    drift_step: int = Field(
        250, ge=2, description="the window moves (and is checked) every this many events"
    )
    drift_psi_threshold: float = Field(0.25, gt=0, description="PSI above this: drift")
    drift_missing_delta: float = Field(0.2, gt=0, le=1, description="missing rate rise: alert")
    drift_unseen_threshold: float = Field(0.05, gt=0, le=1, description="unseen share: alert")
    drift_mean_shift_delta: float = Field(
        0.5,
        ge=0,
        description="mean_shift: Page-Hinkley's allowance, in standard errors of a drift_step "
        "chunk's mean rank (shifts below it are not accumulated)",
    )
    drift_mean_shift_threshold: float = Field(
        10.0,
        gt=0,
        description="mean_shift: alert when the accumulated deviation of chunk mean ranks "
        "exceeds this many standard errors",
    )
    drift_cooldown: int = Field(20_000, ge=0, description="events between two alerts of a signal")

    # --- joiner ----------------------------------------------------------------------
    joiner_store: str = Field(
        "rocksdb://", description="faust table store: rocksdb:// (persistent) or memory://"
    )
    joiner_data_dir: Path = Field(Path("var/joiner"), description="where rocksdb keeps state")
    joiner_instance_id: str = Field(
        default_factory=socket.gethostname,
        description="stable per joiner process: its static group member id (static_membership)",
    )
    joiner_rocksdb_write_buffer_mb: int = Field(
        1, ge=1, description="RocksDB memtable size per partition (faust's default: 64, x3)"
    )
    joiner_rocksdb_block_cache_mb: int = Field(
        1, ge=1, description="RocksDB block cache per partition (faust's default: 2048)"
    )
    join_retention_ms: int = Field(
        7 * 86_400_000, ge=1, description="join state expires after this much event time"
    )
    joiner_misrouted_feedback: Literal["reroute", "dead_letter"] = Field(
        "reroute",
        description="feedback on another partition than Kafka's default partitioner gives its "
        "key (it can never meet its score): reroute it there, or dead-letter it "
        "(wrong_partition)",
    )
    joiner_shadow_quality: bool = Field(
        True,
        description="the joiner also reads scores.shadow (co-partitioned with scores) and gives "
        "each shadow score its event's label: online quality and AUC estimate per version",
    )
    quality_window: int = Field(2_000, ge=10, description="labels in the rolling quality metrics")
    quality_cooldown: int = Field(5_000, ge=0, description="labels between two quality alerts")
    estimate_window: int = Field(
        2_000, ge=10, description="scores per model version the AUC estimate (CBPE) is on"
    )
    estimate_step: int = Field(
        250,
        ge=1,
        description="the AUC estimate is recomputed every this many scores of a version, and "
        "calibration and divergence are checked every this many labels",
    )
    estimate_divergence: float = Field(
        0.05,
        gt=0,
        le=1,
        description="alert when the estimated AUC leaves the realised rolling AUC (over "
        "quality_window labels) by more",
    )

    # --- online challenger (docs/models.md) ---------------------------------------------
    online_enabled: bool = Field(
        False, description="the joiner trains a River logistic model on each first label"
    )
    online_publish_labels: int = Field(
        20_000, ge=1, description="the joiner writes a version online-<n> every this many labels"
    )
    online_min_labels: int = Field(
        5_000, ge=1, description="labels the online model learns before its first version"
    )
    online_learning_rate: float = Field(
        0.01, gt=0, le=1, description="the online logistic regression's SGD learning rate"
    )
    online_window: int = Field(
        2_000, ge=10, description="labels of the online model's progressive AUC and log loss"
    )
    fallback_version: str | None = Field(
        None,
        description="the version that scores when the champion cannot load or predict (e.g. "
        "online-3); None: the fallback rules",
    )

    # --- model and observability ----------------------------------------------
    model_dir: Path = Path("models")
    predictor: Literal["auto", "compiled", "lightgbm"] = Field(
        "auto",
        description="compiled: the model's trees as native code (needs treelite, tl2cgen and "
        "gcc); auto: compiled when that works, else lightgbm",
    )
    compiled_model_dir: Path = Field(
        Path("var/compiled"), description="where compiled models are cached"
    )
    model_version: str | None = Field(None, description="None: the version named by models/CURRENT")
    model_required: bool = Field(
        True, description="false: start on the fallback rules when the model cannot load"
    )
    model_reload_s: float = Field(
        30.0, ge=0, description="check models/CURRENT this often and load a new version (0: off)"
    )
    # --- model lifecycle (docs/lifecycle.md) --------------------------------------------
    challengers_max: int = Field(
        0,
        ge=0,
        le=8,
        description="the scorer loads at most this many challengers named in models/CHALLENGERS "
        "(0: none; each costs one prediction per event)",
    )
    canary_guard_margin: float = Field(
        0.05,
        gt=0,
        le=1,
        description="stop a canary whose review+decline rate leaves the champion's by more",
    )
    canary_guard_min_events: int = Field(
        1_000, ge=1, description="decisions of the canary and of the champion before the guard acts"
    )
    gate_min_labels: int = Field(
        1_000, ge=10, description="promote --gate: labelled events both versions scored, at least"
    )
    gate_margin: float = Field(
        0.0,
        ge=0,
        le=1,
        description="promote --gate: the lower confidence bound of challenger AUC - champion AUC "
        "must exceed this",
    )
    gate_confidence: float = Field(
        0.95, gt=0.5, lt=1, description="promote --gate: the bootstrap interval's confidence"
    )
    gate_resamples: int = Field(1_000, ge=100, description="promote --gate: bootstrap resamples")
    retrain_holdout_fraction: float = Field(
        0.2, gt=0, lt=1, description="retrain: the latest share of events (by event time) held out"
    )
    retrain_min_labels: int = Field(
        10_000,
        ge=100,
        description="models autopilot: labelled events since a concept change before it retrains",
    )
    autopilot_group_id: str = Field(
        "streamscore-autopilot", description="models autopilot: its consumer group on drift.alerts"
    )
    autopilot_check_s: float = Field(
        10.0, gt=0, description="models autopilot: count the labels since a change this often"
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="also log every retrain as an MLflow run here (pip install mlflow)"
    )
    actor: str | None = Field(
        None, description="who is named in models/HISTORY.jsonl (default: user@host)"
    )

    metrics_port: int = Field(9108, ge=0, le=65535)
    metrics_host: str = Field(
        "0.0.0.0", description="address the metrics port binds (127.0.0.1: this host only)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                f"security_protocol={self.security_protocol} needs sasl_mechanism, "
                "sasl_username and sasl_password"
            )
        if self.review_threshold > self.decline_threshold:
            raise ValueError("review_threshold must not exceed decline_threshold")
        if self.drift_window % self.drift_step:
            raise ValueError("drift_window must be a multiple of drift_step")
        if not self.topic_accounts_changelog:  # frozen: set once, here
            changelog = f"{self.scorer_group_id}-accounts-changelog"
            object.__setattr__(self, "topic_accounts_changelog", changelog)
        return self

    @property
    def is_embedded(self) -> bool:
        """True when processes should run on the in-process mock cluster."""
        return self.bootstrap_servers == EMBEDDED

    def all_topics(self) -> list[str]:
        """Every topic streamscore reads or writes, in a stable order."""
        return [
            self.topic_events,
            self.topic_scores,
            self.topic_dlq,
            self.topic_feedback,
            self.topic_feedback_unmatched,
            self.topic_feedback_dlq,
            self.topic_labelled,
            self.topic_drift_alerts,
            self.topic_scores_shadow,
            self.topic_accounts_changelog,
        ]

    def compacted_topics(self) -> list[str]:
        """The topics that hold state by key: compacted, partitioned as ``topic_events``."""
        return [self.topic_accounts_changelog]


def default(name: str) -> Any:
    """The default of setting ``name``: sub-configs take theirs from here, never restate it.

    >>> default("topic_scores"), default("review_threshold")
    ('scores', 0.2)
    """
    return Settings.model_fields[name].get_default(call_default_factory=True)


def env_vars(settings: Settings) -> dict[str, str]:
    """``STREAMSCORE_*`` variables that rebuild ``settings`` in a child process.

    >>> env_vars(Settings(topic_events="ev"))["STREAMSCORE_TOPIC_EVENTS"]
    'ev'
    """
    out = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        out[f"STREAMSCORE_{name.upper()}"] = str(value)
    return out
