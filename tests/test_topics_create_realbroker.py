"""`streamscore topics create` on a real Kafka: partitions, retention and compaction as
the broker reports them (admin client), a second run changes nothing, and a process
that starts on topics whose co-partitioning is broken is told what to change."""

from __future__ import annotations

import itertools
import os

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.cli import main
from streams.config import Settings
from streams.dev.realbroker import RealBroker
from streams.errors import ConfigError
from streams.kafka import ensure_topics, topic_partitions
from streams.kafka.config import librdkafka_config
from streams.kafka.runtime import require_topics
from streams.kafka.topics import DLQ_RETENTION_MS

pytestmark = pytest.mark.realbroker

_ids = itertools.count()


def _settings(real_broker: RealBroker) -> Settings:
    """Topics and a group of this test's own (none created)."""
    p = f"tcr.{os.getpid()}.{next(_ids)}"
    names = {
        f: f"{p}.{d}"
        for f, d in Settings().model_dump().items()
        if f.startswith("topic_") and isinstance(d, str) and f != "topic_accounts_changelog"
    }
    return Settings(bootstrap_servers=real_broker.bootstrap, scorer_group_id=p, **names)


def _flags(s: Settings) -> list[str]:
    """``s`` as the flags of a command."""
    names = [f for f in Settings.model_fields if f.startswith("topic_") or f.endswith("_id")]
    return [
        "--bootstrap-servers",
        s.bootstrap_servers,
        *(f"--{f.replace('_', '-')}={getattr(s, f)}" for f in names),
    ]


def _config(s: Settings, topic: str, key: str) -> str:
    admin = AdminClient(librdkafka_config(s))
    (future,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
    return str(future.result(timeout=30)[key].value)


def test_creates_every_topic_with_its_partitions_and_configs(
    real_broker: RealBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    s = _settings(real_broker)
    flags = [f for f in _flags(s) if not f.startswith("--topic-partitions")]
    ensure_topics(s, [s.topic_scores], partitions=3)  # an existing joiner input
    assert main(["topics", "create", *flags, "--topic-partitions", "5"]) == 0
    assert {t: topic_partitions(s, t) for t in s.all_topics()} == {
        **{t: 5 for t in s.all_topics()},
        s.topic_scores: 3,
        s.topic_feedback: 3,  # co-partitioned with scores, not 5
        s.topic_scores_shadow: 3,
    }
    for dlq in (s.topic_dlq, s.topic_feedback_dlq):
        assert _config(s, dlq, "retention.ms") == str(DLQ_RETENTION_MS)
    for compacted in (s.topic_labelled, s.topic_accounts_changelog):
        assert _config(s, compacted, "cleanup.policy") == "compact"
    assert _config(s, s.topic_events, "cleanup.policy") == "delete"
    capsys.readouterr()
    assert main(["topics", "create", *flags]) == 0  # again: nothing to do
    assert all(" exists" in line for line in capsys.readouterr().out.splitlines())


def test_broken_copartitioning_names_the_fix(real_broker: RealBroker) -> None:
    s = _settings(real_broker)
    ensure_topics(s, [s.topic_scores], partitions=2)
    ensure_topics(s, [s.topic_feedback], partitions=4)
    with pytest.raises(ConfigError) as info:
        require_topics(s, [s.topic_scores, s.topic_feedback])
    message = str(info.value)
    assert f"give {s.topic_scores} 4 partitions" in message
    assert "streamscore topics create --topic-partitions 4" in message
    assert main(["topics", "create", *_flags(s)]) == 1  # the command says it too
