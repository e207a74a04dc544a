"""Static group membership (KIP-345, issue 26 part 3): a SIGKILLed scorer restarted at once
rejoins under its own ``group.instance.id`` and gets its partitions back without a
rebalance: the other scorer is never revoked, the group's assignment is the same, and
every event is scored exactly once."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import IO

import orjson
import pytest
from helpers import child_env, isolated_settings, wait_for

from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, group_offsets, read_topic
from streams.kafka.groups import group_members

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent


def _scorer(settings: Settings, instance: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = child_env(settings, scorer_instance_id=instance)
    return subprocess.Popen(
        [sys.executable, "-m", "streams", "score"], env=env, cwd=ROOT, stderr=log
    )


def _committed(settings: Settings, partitions: set[tuple[str, int]]) -> int:
    offsets = group_offsets(settings, settings.scorer_group_id, [settings.topic_events])
    return sum(max(c, 0) for t, p, _, _, c in offsets if (t, p) in partitions)


def _rebalance_lines(log: Path, since: int) -> list[str]:
    text = log.read_bytes()[since:].decode(errors="replace")
    return [line for line in text.splitlines() if "partitions revoked" in line]


def test_a_restarted_static_scorer_gets_its_partitions_back_without_a_rebalance(
    real_broker: RealBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(
        real_broker.bootstrap, topic_partitions=4, transaction_timeout_ms=10_000
    )
    group = settings.scorer_group_id
    a_id, b_id = f"{group}-a", f"{group}-b"
    events = [r for r in generate(GeneratorConfig(seed=62, count=8_000)) if r.topic == "events"]
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "a2", "b")}
    files = {name: path.open("wb") for name, path in logs.items()}
    a = _scorer(settings, "a", files["a"])
    b = _scorer(settings, "b", files["b"])
    writer = threading.Thread(target=write_records, args=(settings, events, 400.0), daemon=True)
    try:
        writer.start()

        def both_assigned() -> bool:
            members = group_members(settings, group)
            return bool(members.get(a_id)) and bool(members.get(b_id))

        wait_for(both_assigned, 90, "both scorers to own partitions")
        scored = lambda: committed_total(settings, group, settings.topic_events)  # noqa: E731
        wait_for(lambda: scored() > 500, 60, "some commits")
        before = group_members(settings, group)
        b_log_at_kill = logs["b"].stat().st_size
        a.kill()
        a.wait(30)
        at_kill = _committed(settings, before[a_id])
        a = _scorer(settings, "a", files["a2"])  # at once, as an orchestrator restarts it
        wait_for(
            lambda: _committed(settings, before[a_id]) > at_kill + 100,
            60,
            "the restarted scorer to commit on its old partitions",
        )
        assert group_members(settings, group) == before  # same members, same partitions
        assert _rebalance_lines(logs["b"], b_log_at_kill) == []  # b was never revoked
        writer.join(120)
        assert not writer.is_alive()
        wait_for(lambda: scored() >= len(events), 120, "every event scored")
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.wait(60)
        for f in files.values():
            f.close()
    scores = read_topic(settings, settings.topic_scores)
    got = Counter(orjson.loads(r.value or b"")["event_id"] for r in scores)
    want = Counter(orjson.loads(r.value)["event_id"] for r in events if r.valid)
    assert got == want
