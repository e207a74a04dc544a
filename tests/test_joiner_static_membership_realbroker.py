"""Static group membership for joiners (KIP-345, issue 26 part 3): a SIGKILLed joiner
restarted at once rejoins under its own ``group.instance.id`` and gets its partitions
back without a rebalance: the other joiner is never revoked, the group's assignment is
the same, and every label reaches ``labelled``. Without static membership the same
restart rebalances the group; both print the pause until every partition commits again."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest
from helpers import isolated_settings, wait_for
from joiner_feed import (
    Feeder,
    await_every_label,
    check_labelled,
    expected,
    labelled_so_far,
    paired_plan,
    start_joiner,
)

from streams.config import Settings
from streams.dev.realbroker import RealBroker
from streams.feedback.app import changelog_topic, static_member_id
from streams.kafka import group_offsets, watermarks
from streams.kafka.groups import group_members

pytestmark = pytest.mark.realbroker


def _committed(s: Settings) -> dict[tuple[str, int], int]:
    offsets = group_offsets(s, s.joiner_group_id, [s.topic_scores, s.topic_feedback])
    return {(t, p): c for t, p, _, _, c in offsets}


def _changelog_held(s: Settings) -> dict[int, int]:
    """Records per partition of the join table's changelog."""
    return {p: high - low for p, (low, high) in watermarks(s, changelog_topic(s)).items()}


def _lines(log: Path, since: int, text: str) -> list[str]:
    return [line for line in log.read_text()[since:].splitlines() if text in line]


@pytest.mark.parametrize("static", [True, False], ids=["static", "dynamic"])
def test_a_restarted_static_joiner_gets_its_partitions_back_without_a_rebalance(
    real_broker: RealBroker, tmp_path: Path, static: bool
) -> None:
    s = isolated_settings(
        real_broker.bootstrap,
        topic_partitions=4,
        joiner_store="rocksdb://",
        session_timeout_ms=20_000,  # longer than a restart takes
        static_membership=static,
    )
    group = s.joiner_group_id
    ids = {n: f"{group}-{n}" for n in "ab"}  # group.instance.id: <joiner group>-<instance id>
    if static:
        assert static_member_id(s.model_copy(update={"joiner_instance_id": "a"})) == ids["a"]
    logs = {n: tmp_path / f"{n}.log" for n in "ab"}
    plan = paired_plan("static", 6_000, seed=345)
    feeder = Feeder(s, plan, 300.0)

    def joiner(name: str) -> subprocess.Popen[bytes]:
        data = tmp_path / name
        return start_joiner(s, logs[name], joiner_instance_id=name, joiner_data_dir=data)

    def owning() -> dict[str, set[tuple[str, int]]]:
        return {k: v for k, v in group_members(s, group).items() if v}

    procs = {n: joiner(n) for n in "ab"}
    try:
        feeder.start()
        wait_for(lambda: len(owning()) == 2, 90, "both joiners to own partitions")
        wait_for(lambda: labelled_so_far(s) > 500, 60, "some labels")
        before = owning()
        b_at_kill = len(logs["b"].read_text())
        procs["a"].kill()
        killed_at = time.monotonic()
        procs["a"].wait(30)
        at_kill = _committed(s)
        procs["a"] = joiner("a")  # at once, as an orchestrator restarts it
        moved = lambda: all(c > at_kill[tp] for tp, c in _committed(s).items())  # noqa: E731
        wait_for(moved, 90, "a commit on every partition after the kill")
        pause = time.monotonic() - killed_at
        wait_for(lambda: len(owning()) == 2, 90, "both joiners to own partitions again")
        revoked = _lines(logs["b"], b_at_kill, "partitions revoked")
        if static:
            assert owning() == before  # same members, same partitions
            assert revoked == []  # b never revoked
            # nor reloads its state: a rejoining static leader may make the group run a
            # rebalance that changes nothing; then b reads at most the tail of its own
            # changelog writes since its store last recorded an offset, never all of it
            held = _changelog_held(s)
            for line in _lines(logs["b"], b_at_kill, "join state restored"):
                done = orjson.loads(line)
                assert done["changelog_records"] < sum(held[p] for p in done["partitions"]), line
        else:
            assert revoked, "a dynamic member's restart should make the group rebalance"
        wait_for(feeder.done.is_set, 120, "every record sent")
        found = await_every_label(s, expected(plan), 120)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(60)
    check_labelled(found, expected(plan))
    print(f"\nstatic={static} until every partition committed again: {pause:.2f} s")
    print(f"b revoked {len(revoked)} times")
