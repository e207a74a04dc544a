"""Broker outages under a running joiner (issue 26 part 2, the joiner's side): the broker
stopped (SIGTERM, SIGKILL) and started again on its data and port while scores and
feedback flow: ``/readyz`` says ``broker_reachable`` false meanwhile, the joiner resumes
by itself (or exits, and a restarted one resumes), and every label is in ``labelled``
afterwards, none lost (re-emits byte-identical)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import free_port, isolated_settings, readyz, wait_for
from joiner_feed import (
    Feeder,
    await_every_label,
    check_labelled,
    expected,
    labelled_so_far,
    paired_plan,
    start_joiner,
)

from streams.dev.realbroker import RealBroker

pytestmark = pytest.mark.realbroker

EVENTS = 6_000
RATE = 400.0  # records a second, scores and feedback together: 30 s of stream


def _stopped(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_a_broker_outage_turns_readiness_false_and_the_joiner_resumes(
    tmp_path: Path, kill: bool
) -> None:
    port, log = free_port(), tmp_path / "joiner.log"
    with RealBroker(home=tmp_path / "kafka") as broker:
        s = isolated_settings(
            broker.bootstrap,
            topic_partitions=3,
            joiner_store="rocksdb://",
            joiner_data_dir=tmp_path / "joiner",
            session_timeout_ms=6_000,
        )
        plan = paired_plan("out", EVENTS, seed=26)
        feeder = Feeder(s, plan, RATE)
        joiner = start_joiner(s, log, metrics_port=port)
        exits: list[int] = []
        try:
            feeder.start()
            wait_for(lambda: labelled_so_far(s) > 1_000, 90, "the joiner at work")
            assert readyz(port).get("broker_reachable") is True
            broker.stop(kill=kill)
            wait_for(
                lambda: readyz(port).get("broker_reachable") is False or _stopped(joiner),
                30,
                "readiness to see the broker gone",
            )
            broker.start()  # the same data and port
            at_restart = labelled_so_far(s)
            wait_for(
                lambda: labelled_so_far(s) > at_restart + 500 or _stopped(joiner),
                120,
                "the joiner to resume or exit",
            )
            if _stopped(joiner):
                exits.append(joiner.returncode)
                joiner = start_joiner(s, log, metrics_port=port)
            wait_for(feeder.done.is_set, 180, "every record sent")
            found = await_every_label(s, expected(plan), 180)
            wait_for(lambda: all(readyz(port).values()), 60, "ready again")
        finally:
            joiner.terminate()
            joiner.wait(60)
    again = check_labelled(found, expected(plan))
    print(f"\nkill={kill} exits={exits} labels={len(found)} re-emitted={again}")
    assert exits == [], f"the joiner exited during the outage: {exits} (see {log})"
