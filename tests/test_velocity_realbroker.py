"""Velocity features on the real broker: every score's velocity features equal the
brute force from its account's earlier events on ``events``, across a SIGKILL and a
restart of the scorer mid-stream, and across a second scorer joining the group (the
partitions it takes restored from the compacted changelog); and state expires, with
tombstones in the changelog, the features still exact."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from helpers import child_env, isolated_settings, wait_for
from velocity_models import check_velocity, write_velocity_models

from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, read_topic, topic_partitions
from streams.kafka.config import librdkafka_config
from streams.kafka.topics import ensure_topics
from streams.model.registry import set_champion
from streams.model.velocity import VelocityConfig

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
COUNT = 12_000


@pytest.fixture()
def settings(real_broker: RealBroker, tmp_path: Path) -> Settings:
    return isolated_settings(
        real_broker.bootstrap, topic_partitions=4, transaction_timeout_ms=10_000,
        model_dir=write_velocity_models(tmp_path / "models"), model_version="v2",
        predictor="lightgbm",
    )  # fmt: skip


def _scorer(
    settings: Settings, log: Path, instance: str = "a", **extra: object
) -> subprocess.Popen[bytes]:
    """``streamscore score``, its log lines in ``log``; many small transactions, so
    that a kill or a rebalance lands mid-stream."""
    env = child_env(settings, batch_max_size=200, scorer_instance_id=instance, **extra)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "score"], env=env, cwd=ROOT, stderr=out
        )


def _stream(settings: Settings, seed: int, rate: float = 3_000.0) -> threading.Thread:
    """Write COUNT generated events (200 accounts, an event a second of event time) at
    ``rate`` a second."""
    config = GeneratorConfig(seed=seed, count=COUNT, events_per_second=1.0, accounts=200)
    sent = [r for r in generate(config) if r.topic == "events"]
    writer = threading.Thread(target=write_records, args=(settings, sent, rate), daemon=True)
    writer.start()
    return writer


def _restored(log: Path, field: str = "accounts", message: str = "velocity state restored") -> int:
    """The accounts a scorer restored (``from_checkpoints``: of them, those from its
    local checkpoints), from its log lines; or ``field`` of another ``message``."""
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")]
    return sum(r[field] for r in lines if r["message"] == message)


def _in_use(log: Path) -> str | None:
    """The model version the scorer's last "model in use" line names."""
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")]
    return ([r["version"] for r in lines if r["message"] == "model in use"] or [None])[-1]


def _stop(scorer: subprocess.Popen[bytes]) -> None:
    scorer.send_signal(signal.SIGTERM)
    assert scorer.wait(30) == 0


def _check(settings: Settings) -> None:
    """Exactly one score per event, its velocity features the brute force's."""
    events = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_events)]
    scores = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_scores)]
    assert sorted(s["event_id"] for s in scores) == sorted(e["event_id"] for e in events)
    assert check_velocity(scores, events) == COUNT
    assert sum(not s["cold_start"] for s in scores) > COUNT // 2


def test_the_changelog_is_compacted_and_partitioned_as_events(settings: Settings) -> None:
    topic = settings.topic_accounts_changelog
    assert topic_partitions(settings, topic) == topic_partitions(settings, settings.topic_events)
    admin = AdminClient(librdkafka_config(settings))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"


def test_features_equal_the_brute_force_across_a_sigkill(
    settings: Settings, tmp_path: Path
) -> None:
    writer = _stream(settings, seed=27)
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    first = _scorer(settings, tmp_path / "first.log")
    wait_for(lambda: done() > 3_000, 120, "the first scorer to commit some batches")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert done() < COUNT, "the kill came too late to be mid-stream"
    second = _scorer(settings, tmp_path / "second.log")  # fences the dead one's transaction
    try:
        writer.join(60)
        wait_for(lambda: done() == COUNT, 180, "the restarted scorer to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert "Traceback" not in (tmp_path / "second.log").read_text()
    assert _restored(tmp_path / "second.log") > 0
    _check(settings)


def test_features_equal_the_brute_force_across_a_rebalance(
    settings: Settings, tmp_path: Path
) -> None:
    writer = _stream(settings, seed=28, rate=1_000.0)
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    first = _scorer(settings, tmp_path / "a.log", "a")
    wait_for(lambda: done() > 3_000, 120, "the first scorer to commit some batches")
    second = _scorer(settings, tmp_path / "b.log", "b")  # takes some partitions from the first
    try:
        wait_for(lambda: _restored(tmp_path / "b.log") > 0, 60, "the second scorer's restore")
        assert done() < COUNT, "the rebalance came too late to be mid-stream"
        writer.join(60)
        wait_for(lambda: done() == COUNT, 180, "the two scorers to finish")
    finally:
        for p in (first, second):
            p.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0 and second.wait(30) == 0
    for name in ("a", "b"):
        assert "Traceback" not in (tmp_path / f"{name}.log").read_text()
    _check(settings)


def test_idle_accounts_expire_with_tombstones_and_the_features_stay_exact(
    settings: Settings, tmp_path: Path
) -> None:
    config = VelocityConfig(lateness_ms=60_000, retention_ms=120_000)  # 3.3 h of events
    writer = _stream(settings, seed=29)
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    limits = {"velocity_lateness_ms": 60_000, "velocity_retention_ms": 120_000}
    scorer = _scorer(settings, tmp_path / "s.log", **limits)
    try:
        writer.join(60)
        wait_for(lambda: done() == COUNT, 180, "the scorer to finish")
    finally:
        scorer.send_signal(signal.SIGTERM)
        assert scorer.wait(30) == 0
    events = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_events)]
    scores = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_scores)]
    assert check_velocity(scores, events, config) == COUNT
    changelog = read_topic(settings, settings.topic_accounts_changelog)
    assert sum(r.value is None for r in changelog) > 20  # accounts dropped, and said so


def test_a_clean_restart_restores_from_its_checkpoints_and_the_changelog_since(
    settings: Settings, tmp_path: Path
) -> None:
    """Scorer a stops cleanly (its checkpoints saved), scorer b takes every partition
    (no checkpoint of its own: the whole changelog) and writes more of the changelog,
    then a comes back: its checkpoints and what b wrote since, the features exact. At
    most 50 of the 200 accounts in memory: the rest move to RocksDB and back."""
    writer = _stream(settings, seed=30, rate=600.0)
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    logs = {name: tmp_path / f"{name}.log" for name in ("a1", "b", "a2")}
    bound = {"velocity_max_resident_accounts": 50}
    first = _scorer(settings, logs["a1"], "a", **bound)
    wait_for(lambda: done() > 2_500, 120, "scorer a to commit some batches")
    _stop(first)
    assert _restored(logs["a1"], "in_store", "velocity checkpoints saved") > 100
    second = _scorer(settings, logs["b"], "b", **bound)
    try:
        wait_for(lambda: done() > 6_000, 120, "scorer b to commit some batches")
    finally:
        _stop(second)
    assert _restored(logs["b"]) > 0 and _restored(logs["b"], "from_checkpoints") == 0
    assert done() < COUNT, "scorer a came back too late to be mid-stream"
    third = _scorer(settings, logs["a2"], "a", **bound)
    try:
        writer.join(60)
        wait_for(lambda: done() == COUNT, 180, "scorer a to finish")
    finally:
        _stop(third)
    assert _restored(logs["a2"], "from_checkpoints") > 0
    for log in logs.values():
        text = log.read_text()
        assert "Traceback" not in text and "velocity checkpoint not used" not in text
    _check(settings)


def test_a_swap_to_a_velocity_model_waits_for_its_changelog_then_keeps_the_bound(
    settings: Settings, tmp_path: Path
) -> None:
    """Scorer on the event-only v1; CURRENT names v2 while the changelog topic is gone:
    v2 is refused (the scorer keeps v1) until the topic is there; then v2 is swapped in
    with the velocity state as at a start: 50 accounts in memory, the rest in RocksDB,
    saved as checkpoints at the clean stop."""
    changelog = settings.topic_accounts_changelog
    admin = AdminClient(librdkafka_config(settings))
    admin.delete_topics([changelog])[changelog].result(30)
    wait_for(lambda: topic_partitions(settings, changelog) == 0, 30, "the changelog to go")
    set_champion(settings.model_dir, "v1")
    writer = _stream(settings, seed=31, rate=800.0)
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    log = tmp_path / "s.log"
    extra = {"model_version": None, "model_reload_s": 1, "velocity_max_resident_accounts": 50}
    scorer = _scorer(settings, log, **extra)
    try:
        wait_for(lambda: done() > 1_000, 120, "the scorer to commit some batches")
        set_champion(settings.model_dir, "v2")
        wait_for(lambda: b"not swapped in" in log.read_bytes(), 60, "v2 to be refused")
        assert _in_use(log) == "v1"  # it kept its model
        ensure_topics(settings, [changelog])
        wait_for(lambda: _in_use(log) == "v2", 60, "v2 to be swapped in")
        assert done() < COUNT, "v2 came too late to score part of the stream"
        writer.join(60)
        wait_for(lambda: done() == COUNT, 180, "the scorer to finish")
    finally:
        _stop(scorer)
    assert "Traceback" not in log.read_text()
    assert _restored(log, "in_store", "velocity checkpoints saved") > 100
    events = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_events)]
    scores = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_scores)]
    assert sorted(s["event_id"] for s in scores) == sorted(e["event_id"] for e in events)
    versions = {s["model_version"] for s in scores}
    assert versions == {"v1", "v2"}, versions
