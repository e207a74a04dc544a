"""The broker killed under a running scorer and started again on its data (issue 26,
part 2, first scenario): the scorer resumes by itself, or ends (EXIT_WEDGED when
librdkafka left its transaction's commit blocked, librdkafka #5456; 1 on a fatal
transactional error) and a restarted scorer, as an orchestrator starts it, takes over.
It never hangs, no event is lost and none is scored twice (read_committed)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from helpers import child_env, isolated_settings, wait_for

from streams.cli import EXIT_WEDGED
from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, read_topic

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[RealBroker]:
    with RealBroker(home=tmp_path / "kafka") as b:
        yield b


def _scorer(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams", "score"], env=child_env(settings), cwd=ROOT
    )


def test_a_broker_killed_mid_stream_loses_and_doubles_nothing(broker: RealBroker) -> None:
    settings = isolated_settings(
        broker.bootstrap, topic_partitions=3, transaction_timeout_ms=10_000, metrics_port=0
    )
    events = [r for r in generate(GeneratorConfig(seed=61, count=20_000)) if r.topic == "events"]
    group, topic = settings.scorer_group_id, settings.topic_events

    def scored() -> int:
        return committed_total(settings, group, topic)

    scorer = _scorer(settings)
    writer = threading.Thread(target=write_records, args=(settings, events, 800.0), daemon=True)
    restarts = 0
    try:
        writer.start()
        wait_for(lambda: scored() > 3_000, 90, "the scorer to commit some batches")
        broker.stop(kill=True)
        broker.start()  # the same data and address
        at_restart = scored()
        # resumed, or gone with EXIT_WEDGED: its limit is 10 s + 30 s after the commit began
        resumed = lambda: scored() > at_restart + 1_000  # noqa: E731
        wait_for(
            lambda: resumed() or scorer.poll() is not None, 120, "the scorer to resume or exit"
        )
        if scorer.poll() is not None:  # ended, wedged (EXIT_WEDGED) or on a fatal error (1)
            assert scorer.returncode in (EXIT_WEDGED, 1), scorer.returncode
            scorer, restarts = _scorer(settings), 1  # what an orchestrator does
        writer.join(120)
        assert not writer.is_alive()
        wait_for(lambda: scored() >= len(events), 180, "every event scored")
        assert scorer.poll() is None
    finally:
        scorer.terminate()
        scorer.wait(60)
        if writer.is_alive():  # its deliveries end before the broker does (no stray logs)
            writer.join(150)
    scores = read_topic(settings, settings.topic_scores)
    got = Counter(orjson.loads(r.value or b"")["event_id"] for r in scores)
    want = Counter(orjson.loads(r.value)["event_id"] for r in events if r.valid)
    assert got == want, f"lost or doubled after a broker kill ({restarts} scorer restarts)"
