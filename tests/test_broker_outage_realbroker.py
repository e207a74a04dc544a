"""Broker outages (issue 26 part 2): a broker unreachable at start (``broker_wait_s``), and
the broker stopped (SIGTERM, SIGKILL) and started again on its data and port under a
running scorer: ``/readyz`` says ``broker_reachable`` false meanwhile, the scorer resumes
by itself (or exits 3 on a wedged commit and a restart resumes), nothing is lost or
doubled."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest
from helpers import child_env, free_port, isolated_settings, readyz, wait_for

from streams.cli import EXIT_WEDGED
from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, read_topic, topic_partitions

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def _score(settings: Settings, log: Path, *flags: str, **extra: object) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "score", *flags],
            env=child_env(settings, **extra),
            cwd=ROOT,
            stderr=err,
        )


def test_an_unreachable_broker_fails_fast_or_is_waited_for(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(bootstrap_servers=f"127.0.0.1:{port}", metrics_port=0, model_dir=MODELS)
    failed_log, waiting_log = tmp_path / "failed.log", tmp_path / "waiting.log"
    failed = _score(settings, failed_log)  # broker_wait_s 0: one try
    assert failed.wait(60) == 1
    assert f"streamscore: broker unreachable at 127.0.0.1:{port}" in failed_log.read_text()
    waiting = _score(settings, waiting_log, "--create-topics", broker_wait_s=120)
    try:
        wait_for(lambda: "waiting for the broker" in waiting_log.read_text(), 60, "the wait")
        with RealBroker(home=tmp_path / "kafka", port=port):  # the port opens now
            wait_for(lambda: topic_partitions(settings, settings.topic_scores) > 0, 120, "topics")
            events = [
                r for r in generate(GeneratorConfig(seed=63, count=300)) if r.topic == "events"
            ]
            write_records(settings, events, 0)
            group, topic = settings.scorer_group_id, settings.topic_events
            wait_for(
                lambda: committed_total(settings, group, topic) >= len(events),
                120,
                "the scorer that waited to score",
            )
            assert waiting.poll() is None
    finally:
        waiting.terminate()
        waiting.wait(60)


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_a_broker_outage_turns_readiness_false_and_the_scorer_resumes(
    tmp_path: Path, kill: bool
) -> None:
    metrics_port = free_port()
    with RealBroker(home=tmp_path / "kafka") as broker:
        settings = isolated_settings(
            broker.bootstrap, topic_partitions=3, transaction_timeout_ms=10_000
        )
        events = [r for r in generate(GeneratorConfig(seed=64, count=8_000)) if r.topic == "events"]
        group, topic = settings.scorer_group_id, settings.topic_events
        scored = lambda: committed_total(settings, group, topic)  # noqa: E731
        scorer = _score(settings, tmp_path / "scorer.log", metrics_port=metrics_port)
        writer = threading.Thread(target=write_records, args=(settings, events, 400.0), daemon=True)
        exits: list[int] = []
        try:
            writer.start()
            wait_for(lambda: scored() > 1_000, 90, "some commits")
            assert readyz(metrics_port).get("broker_reachable") is True
            broker.stop(kill=kill)
            wait_for(
                lambda: (
                    readyz(metrics_port).get("broker_reachable") is False
                    or scorer.poll() is not None
                ),
                60,
                "readiness to see the broker gone",
            )
            broker.start()  # the same data and port
            at_restart = scored()
            wait_for(
                lambda: scored() > at_restart + 500 or scorer.poll() is not None,
                120,
                "the scorer to resume or exit",
            )
            if scorer.poll() is not None:  # a wedged commit: exit 3 (1: a fatal txn error)
                exits.append(scorer.returncode)
                assert scorer.returncode in (EXIT_WEDGED, 1), scorer.returncode
                scorer = _score(settings, tmp_path / "scorer.log", metrics_port=metrics_port)
            writer.join(150)
            assert not writer.is_alive()
            wait_for(lambda: scored() >= len(events), 180, "every event scored")
            wait_for(lambda: all(readyz(metrics_port).values()), 60, "ready again")
        finally:
            scorer.terminate()
            scorer.wait(60)
            if writer.is_alive():
                writer.join(150)
        scores = read_topic(settings, settings.topic_scores)
    got = Counter(orjson.loads(r.value or b"")["event_id"] for r in scores)
    want = Counter(orjson.loads(r.value)["event_id"] for r in events if r.valid)
    assert got == want, f"lost or doubled across a broker outage (scorer exits: {exits})"
