"""A DLQ that keeps refusing writes under a running scorer process (issue 26 part 4), held
for many retries: what ``tests/test_dependency_faults_realbroker.py`` checks at one
moment, checked for the whole fault. Every retry is aborted: the group's committed
offsets never move past what was committed before, ``streamscore_delivery_failures``
counts the aborts in a row, the log says ``outputs not delivered; retrying``,
``/readyz`` says ``outputs_committing`` false; fixed, the scorer recovers by itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from test_dependency_faults_realbroker import (  # one Scorer process wrapper, one fixture
    Scorer,
    _check_outputs,
    _events,
    _scored_up_to,
    settings,
)

from streams.config import Settings
from streams.dev.local import wait_until
from streams.dev.produce import write_records
from streams.kafka import committed_total
from streams.kafka.config import librdkafka_config

__all__ = ["settings"]  # the fixture, used by name
pytestmark = pytest.mark.realbroker

RETRIES = 4  # aborts in a row held under observation


def _dlq_max_bytes(settings: Settings, value: str) -> None:
    admin = AdminClient(librdkafka_config(settings))
    entry = ConfigEntry("max.message.bytes", value, incremental_operation=AlterConfigOpType.SET)
    topic = ConfigResource("topic", settings.topic_dlq, incremental_configs=[entry])
    admin.incremental_alter_configs([topic])[topic].result(30)


def test_a_dlq_refusing_writes_commits_nothing_for_many_retries(
    settings: Settings, tmp_path: Path
) -> None:
    scorer = Scorer(settings, tmp_path / "scorer.log")
    try:
        first = [r for r in _events(91, 300) if r.valid]
        write_records(settings, first, 0)
        wait_until(lambda: _scored_up_to(settings), 90, "the valid events scored")
        held = committed_total(settings, settings.scorer_group_id, settings.topic_events)
        _dlq_max_bytes(settings, "256")  # every dead letter is larger (its headers alone)
        during = _events(92, 600)  # 20% invalid: dead letters the DLQ refuses
        write_records(settings, during, 0)
        moved: list[int] = []

        def retried_while_held() -> bool:
            done = committed_total(settings, settings.scorer_group_id, settings.topic_events)
            if done != held:
                moved.append(done)
            return scorer.metric("streamscore_delivery_failures") >= RETRIES or bool(moved)

        wait_until(retried_while_held, 90, f"{RETRIES} aborts in a row")
        assert not moved, f"offsets committed past {held} while the DLQ refused: {moved}"
        assert scorer.ready().get("outputs_committing") is False
        assert "outputs not delivered; retrying" in scorer.log.read_text()
        _dlq_max_bytes(settings, "1048588")  # Kafka's default
        wait_until(lambda: _scored_up_to(settings), 120, "the scorer to recover by itself")
        wait_until(lambda: scorer.metric("streamscore_delivery_failures") == 0, 30, "metric 0")
        wait_until(lambda: all(scorer.ready().values()), 60, "ready again")
        assert scorer.proc.poll() is None  # it never exited
    finally:
        scorer.stop()
    _check_outputs(settings, first + during)
