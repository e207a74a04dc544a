"""What the joiner fault tests share: a paced stream of scores and feedback, joiner
processes, and the check that every expected label reached ``labelled``."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from helpers import child_env, end_total_when_led, wait_for

from bench.chaos_check import labelled_found
from streams.config import Settings
from streams.feedback.examples import feedback_record, score_record
from streams.kafka import make_producer

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600_000

Plan = list[tuple[str, bytes, bytes]]
"""(``scores`` or ``feedback``, key, value) in sending order."""


def paired_plan(prefix: str, events: int, seed: int) -> Plan:
    """Each event's score and one label for it, the label 1-40 records later (one in ten
    before the score: the join's other arrival order)."""
    rng = random.Random(seed)
    slots: dict[int, Plan] = {}
    for i in range(events):
        eid = f"{prefix}-{i:05d}"
        score = orjson.dumps(score_record(eid, T0 + i, score=rng.random()))
        label = orjson.dumps(feedback_record(eid, rng.randint(0, 1), T0 + i + 9))
        at, later = 2 * i, 2 * i + rng.randint(1, 40)
        first, second = (later, at) if rng.random() < 0.1 else (at, later)
        slots.setdefault(first, []).append(("scores", eid.encode(), score))
        slots.setdefault(second, []).append(("feedback", eid.encode(), label))
    return [record for at in sorted(slots) for record in slots[at]]


class Feeder(threading.Thread):
    """Produces a plan at ``rate`` records a second, through broker outages (the producer
    holds what it cannot deliver yet); ``done`` is set once every delivery is confirmed."""

    def __init__(self, settings: Settings, plan: Plan, rate: float) -> None:
        super().__init__(name="feeder", daemon=True)
        self.settings, self.plan, self.rate = settings, plan, rate
        self.done = threading.Event()

    def run(self) -> None:
        producer = make_producer(self.settings, **{"message.timeout.ms": 600_000})
        topics = {"scores": self.settings.topic_scores, "feedback": self.settings.topic_feedback}
        start, step = time.monotonic(), 20
        for n in range(0, len(self.plan), step):
            for topic, key, value in self.plan[n : n + step]:
                producer.produce(topics[topic], value=value, key=key)
            producer.poll(0)
            time.sleep(max(0.0, start + (n + step) / self.rate - time.monotonic()))  # pacing
        if producer.flush(600) == 0:
            self.done.set()


def expected(plan: Plan) -> set[tuple[str, str]]:
    """(event id, feedback id) of every label in ``plan`` (each event has its score)."""
    return {
        (key.decode(), orjson.loads(value)["feedback_id"])
        for topic, key, value in plan
        if topic == "feedback"
    }


def start_joiner(settings: Settings, log: Path, **extra: object) -> subprocess.Popen[bytes]:
    """``python -m streams join`` with ``settings`` (``extra`` merged), stderr to ``log``."""
    with log.open("ab") as err:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "join"],
            env=child_env(settings, **extra),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def labelled_so_far(settings: Settings) -> int:
    """Records in ``labelled`` (its high watermarks), once every partition has a leader
    (a broker just restarted elects them one by one)."""
    return end_total_when_led(settings, settings.topic_labelled)


def await_every_label(
    settings: Settings, want: set[tuple[str, str]], deadline_s: float
) -> dict[tuple[str, str], list[bytes]]:
    """``labelled`` once it holds every label of ``want`` (fails naming a lost one), read
    back by (event id, feedback id)."""
    found: dict[tuple[str, str], list[bytes]] = {}

    def complete() -> bool:
        nonlocal found
        if labelled_so_far(settings) < len(want):
            return False
        found = labelled_found(settings)
        return want <= set(found)

    try:
        wait_for(complete, deadline_s, "every label in labelled")
    except AssertionError:
        lost = sorted(want - set(labelled_found(settings)))
        raise AssertionError(f"{len(lost)} labelled records lost, e.g. {lost[:3]}") from None
    return found


def check_labelled(found: dict[tuple[str, str], list[bytes]], want: set[tuple[str, str]]) -> int:
    """Nothing lost or made up, copies byte-identical; returns the number of re-emits."""
    assert set(found) == want
    assert all(len(set(values)) == 1 for values in found.values())
    return sum(len(values) - 1 for values in found.values())
