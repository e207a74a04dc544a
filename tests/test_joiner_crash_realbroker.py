"""The joiner SIGKILLed again and again while feedback streams in, on the real broker,
with its RocksDB state on disk across restarts, and two joiners joining and leaving the
group under load: no labelled record is lost or wrong, and a record emitted again is
byte-identical to the first."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from helpers import child_env, isolated_settings, wait_for

from bench.chaos_check import labelled_found
from streams.config import Settings
from streams.dev.realbroker import RealBroker
from streams.feedback.examples import feedback_record, score_record
from streams.kafka import end_total, make_producer

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600_000
KILLS = 5
RATE = 150  # records a second, scores and feedback together


def _plan(rng: random.Random, events: int) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) in sending order: each event's score, its feedback some records
    later (one in ten before the score), one in twenty sent twice, one in twenty corrected."""
    slots: dict[int, list[tuple[str, bytes, bytes]]] = {}
    for i in range(events):
        eid = f"kill-{i:05d}"
        at = i * 2
        score = ("scores", orjson.dumps(score_record(eid, T0 + i, score=rng.random())))
        feedback = [("feedback", orjson.dumps(feedback_record(eid, rng.randint(0, 1), T0 + i + 9,
                                                               f"fb-{eid}-1")))]  # fmt: skip
        if rng.random() < 0.05:
            feedback.append(feedback[0])  # the same feedback again
        if rng.random() < 0.05:
            correction = feedback_record(eid, rng.randint(0, 1), T0 + i + 99, f"fb-{eid}-2")
            feedback.append(("feedback", orjson.dumps(correction)))
        first = at + rng.randint(1, 60) if rng.random() < 0.9 else at
        slots.setdefault(at if first > at else at + 1, []).append(score)
        for k, fb in enumerate(feedback):
            slots.setdefault(first + 30 * k, []).append(fb)
    return [(t, orjson.loads(v)["event_id"].encode(), v) for at in sorted(slots)
            for t, v in slots[at]]  # fmt: skip


class Feeder(threading.Thread):
    """Produces a plan at a steady rate until it is done or told to stop; ``sent`` holds
    what every delivery was confirmed for."""

    def __init__(self, settings: Settings, plan: list[tuple[str, bytes, bytes]]) -> None:
        super().__init__(name="feeder", daemon=True)
        self.settings, self.plan = settings, plan
        self.stop = threading.Event()
        self.sent: list[tuple[str, bytes, bytes]] = []

    def run(self) -> None:
        producer = make_producer(self.settings)
        topics = {"scores": self.settings.topic_scores, "feedback": self.settings.topic_feedback}
        start, step = time.monotonic(), 10
        for n in range(0, len(self.plan), step):
            if self.stop.is_set():
                break
            for topic, key, value in self.plan[n : n + step]:
                producer.produce(topics[topic], value=value, key=key)
            self.sent += self.plan[n : n + step]
            time.sleep(max(0.0, start + (n + step) / RATE - time.monotonic()))  # pacing
        assert producer.flush(30) == 0


def _joiner(settings: Settings, **extra: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams", "join"],
        env=child_env(settings, **extra),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _expected(sent: list[tuple[str, bytes, bytes]]) -> set[tuple[str, str]]:
    """(event id, feedback id) of every label whose event's score was sent too."""
    scored = {key for topic, key, _ in sent if topic == "scores"}
    return {(key.decode(), orjson.loads(v)["feedback_id"])
            for topic, key, v in sent if topic == "feedback" and key in scored}  # fmt: skip


def test_repeated_sigkills_under_live_feedback_lose_no_labelled_record(
    real_broker: RealBroker, tmp_path: Path
) -> None:
    s = isolated_settings(
        real_broker.bootstrap,
        topic_partitions=3,
        joiner_store="rocksdb://",
        joiner_data_dir=tmp_path / "joiner",
        session_timeout_ms=6_000,  # the broker's minimum: a dead joiner's partitions move soon
    )
    rng = random.Random(22)
    feeder = Feeder(s, _plan(rng, events=20_000))
    feeder.start()
    for _ in range(KILLS):
        joiner = _joiner(s)
        before = end_total(s, s.topic_labelled)
        wait_for(lambda b=before: end_total(s, s.topic_labelled) > b, 90, "the joiner at work")
        time.sleep(rng.uniform(0.0, 2.0))  # the fault schedule: a random point of its work
        joiner.send_signal(signal.SIGKILL)
        joiner.wait(10)
    feeder.stop.set()
    feeder.join(60)
    expected = _expected(feeder.sent)
    joiner = _joiner(s)
    try:
        found: dict[tuple[str, str], list[bytes]] = {}

        def complete() -> bool:
            nonlocal found
            if end_total(s, s.topic_labelled) < len(expected):
                return False
            found = labelled_found(s)
            return expected <= set(found)

        try:
            wait_for(complete, 120, "every label after the last restart")
        except AssertionError:
            lost = sorted(expected - set(labelled_found(s)))
            raise AssertionError(f"{len(lost)} labelled records lost, e.g. {lost[:3]}") from None
    finally:
        joiner.send_signal(signal.SIGTERM)
        joiner.wait(60)
    again = sum(len(values) - 1 for values in found.values())
    print(f"\nkills={KILLS} sent={len(feeder.sent)} expected={len(expected)} "
          f"labelled={sum(map(len, found.values()))} lost={len(expected - set(found))} "
          f"re-emitted={again}")  # fmt: skip
    assert set(found) == expected  # nothing lost, nothing made up
    assert all(len(set(values)) == 1 for values in found.values())  # re-emits byte-identical


def _truth(sent: list[tuple[str, bytes, bytes]]) -> dict[tuple[str, str], tuple[int, float]]:
    """(event id, feedback id) -> (the label sent, the score of its event)."""
    scores = {k: orjson.loads(v)["score"] for t, k, v in sent if t == "scores"}
    return {(k.decode(), fb["feedback_id"]): (fb["label"], scores[k])
            for t, k, v in sent if t == "feedback" and k in scores
            for fb in [orjson.loads(v)]}  # fmt: skip


def test_two_joiners_joining_and_leaving_under_load_lose_and_change_nothing(
    real_broker: RealBroker, tmp_path: Path
) -> None:
    s = isolated_settings(real_broker.bootstrap, topic_partitions=4, joiner_store="rocksdb://",
                          session_timeout_ms=6_000)  # fmt: skip
    feeder = Feeder(s, _plan(random.Random(24), events=20_000))
    a = _joiner(s, joiner_data_dir=tmp_path / "a")  # two hosts: state of their own
    b: subprocess.Popen[bytes] | None = None
    try:
        feeder.start()
        for step in ("b joins", "b leaves", "b joins again"):
            before = end_total(s, s.topic_labelled)
            wait_for(lambda n=before: end_total(s, s.topic_labelled) > n + 300, 90, step)
            if b is None:
                b = _joiner(s, joiner_data_dir=tmp_path / "b")
            else:
                b.send_signal(signal.SIGTERM)  # leaves the group: its partitions move to a
                assert b.wait(60) == 0
                b = None
        feeder.stop.set()
        feeder.join(60)
        truth = _truth(feeder.sent)
        wait_for(lambda: set(truth) <= set(labelled_found(s)), 120, "every label")
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    found = labelled_found(s)
    assert set(found) == set(truth)  # nothing lost, nothing made up
    for key, values in found.items():
        records = [orjson.loads(v) for v in values]
        assert {(r["label"], r["score"]) for r in records} == {truth[key]}  # none wrong
        assert len(set(values)) == 1  # copies byte-identical
