"""`streamscore topics create` without a real broker: what it plans (partitions from the
co-partitioned topics that exist, DLQ retention, compaction), on the embedded broker's
real metadata, and the errors that name the fix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.cli import main
from streams.config import Settings
from streams.errors import BrokerError
from streams.kafka.embedded import EMBEDDED_PARTITIONS, EmbeddedBroker
from streams.kafka.runtime import require_topics
from streams.kafka.topics import DLQ_RETENTION_MS, partition_mismatches, plan_topics

DAY_MS = 86_400_000


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


def test_plan_gives_configs_and_default_partitions() -> None:
    s = Settings(topic_partitions=12)
    plan = {t.name: t for t in plan_topics(s, s.all_topics(), {})}
    assert set(plan) == set(s.all_topics())
    assert {t.partitions for t in plan.values()} == {12}
    assert plan["events.dlq"].config == {"retention.ms": str(DLQ_RETENTION_MS)}
    assert plan["feedback.dlq"].config == {"retention.ms": str(DLQ_RETENTION_MS)}
    assert DLQ_RETENTION_MS >= 30 * DAY_MS
    assert plan["labelled"].config == {"cleanup.policy": "compact"}
    assert plan[s.topic_accounts_changelog].config == {"cleanup.policy": "compact"}
    assert plan["scores"].config == {} and plan["events"].config == {}


def test_plan_copartitions_with_what_exists() -> None:
    s = Settings(topic_partitions=12)
    plan = {
        t.name: t.partitions for t in plan_topics(s, s.all_topics(), {"scores": 3, "events": 5})
    }
    assert "scores" not in plan and "events" not in plan  # existing: left alone
    assert plan["feedback"] == plan["scores.shadow"] == 3
    assert plan[s.topic_accounts_changelog] == 5
    assert plan["events.dlq"] == plan["labelled"] == 12
    # an explicit count wins (a test that wants a mismatch)
    assert plan_topics(s, ["feedback"], {"scores": 3}, partitions=8)[0].partitions == 8


def test_mismatches_name_the_topics_and_the_fix() -> None:
    s = Settings()
    (joiner,) = partition_mismatches(s, {"feedback": 4, "scores": 6, "scores.shadow": 6})
    assert "feedback=4, scores=6, scores.shadow=6" in joiner
    assert "give feedback 6 partitions" in joiner and "--topic-partitions 6" in joiner
    (velocity,) = partition_mismatches(s, {s.topic_accounts_changelog: 2, "events": 6})
    assert "give " + s.topic_accounts_changelog + " 6 partitions" in velocity
    # only a set whose reader's topic is there: the scorer does not need scores.shadow
    # co-partitioned with scores, the joiner (reading feedback) does
    assert partition_mismatches(s, {"scores": 4, "scores.shadow": 6}) == []


def test_a_missing_topic_names_the_command_that_creates_it(broker: EmbeddedBroker) -> None:
    s = Settings(bootstrap_servers=broker.bootstrap, topic_events="tc-missing-events")
    with pytest.raises(BrokerError) as info:
        require_topics(s, ["tc-missing-events"])
    assert "streamscore topics create --bootstrap-servers " + broker.bootstrap in str(info.value)
    assert "--create-topics" in str(info.value)


def test_dry_run_on_the_embedded_broker(
    broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    names = {"topic_scores": "tc.scores", "topic_events": "tc.events"}
    broker.create_topics(names.values())  # the mock makes every topic with 4 partitions
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in names.items()]
    argv = ["topics", "create", "--dry-run", "--bootstrap-servers", broker.bootstrap, *flags]
    assert main([*argv, "--topic-partitions", "9", "--topic-feedback", "tc.feedback"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["tc.scores"] == [str(EMBEDDED_PARTITIONS), "exists"]
    assert rows["tc.feedback"][:3] == [str(EMBEDDED_PARTITIONS), "would", "create"]
    assert rows["events.dlq"] == ["9", "would", "create", f"retention.ms={DLQ_RETENTION_MS}"]
    assert rows["labelled"][-1] == "cleanup.policy=compact"


def test_embedded_has_nothing_to_create(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "create"]) == 0
    assert "embedded" in capsys.readouterr().out
