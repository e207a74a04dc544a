"""Velocity features on the real broker: every score's velocity features equal the
brute force from its account's earlier events on ``events``, across a SIGKILL and a
restart of the scorer mid-stream (its state restored from the compacted changelog)."""

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


def _scorer(settings: Settings) -> subprocess.Popen[bytes]:
    # many small transactions, so the kill lands mid-stream
    env = child_env(settings, batch_max_size=200)
    return subprocess.Popen([sys.executable, "-m", "streams", "score"], env=env, cwd=ROOT)


def test_the_changelog_is_compacted_and_partitioned_as_events(settings: Settings) -> None:
    topic = settings.topic_accounts_changelog
    assert topic_partitions(settings, topic) == topic_partitions(settings, settings.topic_events)
    admin = AdminClient(librdkafka_config(settings))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"


def test_features_equal_the_brute_force_across_a_sigkill(settings: Settings) -> None:
    config = GeneratorConfig(seed=27, count=COUNT, events_per_second=1.0, accounts=200)
    sent = [r for r in generate(config) if r.topic == "events"]
    writer = threading.Thread(target=write_records, args=(settings, sent, 3_000.0), daemon=True)
    writer.start()
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    first = _scorer(settings)
    wait_for(lambda: done() > 3_000, 120, "the first scorer to commit some batches")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert done() < COUNT, "the kill came too late to be mid-stream"
    second = _scorer(settings)  # the same instance: fences the dead one's transaction
    try:
        writer.join(60)
        wait_for(lambda: done() == COUNT, 180, "the restarted scorer to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    events = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_events)]
    scores = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_scores)]
    assert sorted(s["event_id"] for s in scores) == sorted(e["event_id"] for e in events)
    assert check_velocity(scores, events) == COUNT
    restarted_warm = [s for s in scores if not s["cold_start"]]
    assert len(restarted_warm) > COUNT // 2
