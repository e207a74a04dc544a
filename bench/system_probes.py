"""What bench.system watches: group lags and RSS, label latency, missing labels.

>>> LabelTimer.latencies_of({"f1": 100, "f2": 200}, {"f1": 130, "f3": 1}, since_ms=0)
[30]
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from bench.harness import rss_mb
from streams.config import Settings
from streams.contract.join_inputs import parse_feedback
from streams.contract.validation import Problem
from streams.kafka import make_consumer, scan_topic
from streams.kafka.groups import group_offsets

PROBE_S = 1.0
_SCAN_S = 600.0  # reading millions of records back


def _lag(rows: list[tuple[str, int, int, int, int]]) -> tuple[int, int]:
    """(end of the inputs, records behind it) from :func:`group_offsets` rows."""
    end = sum(high for _, _, _, high, _ in rows)
    lag = sum(high - max(committed, low) for _, _, low, high, committed in rows)
    return end, lag


class LagProbe(threading.Thread):
    """Every second: the scorer's and the joiner's lag (records behind the end of their
    inputs, by committed offsets) and the RSS of their processes."""

    def __init__(self, settings: Settings, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.settings, self.pids = settings, pids
        self.rows: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.t0 = time.monotonic()

    def sample(self) -> dict[str, Any]:
        s = self.settings
        events_end, scorer_lag = _lag(group_offsets(s, s.scorer_group_id, [s.topic_events]))
        joiner_end, joiner_lag = _lag(
            group_offsets(s, s.joiner_group_id, [s.topic_scores, s.topic_feedback])
        )
        row: dict[str, Any] = {
            "t": round(time.monotonic() - self.t0, 2),
            "events_end": events_end,
            "joiner_end": joiner_end,
            "scorer_lag": scorer_lag,
            "joiner_lag": joiner_lag,
        }
        for name, pid in self.pids.items():
            row[f"{name}_rss_mb"] = round(rss_mb(pid), 1)
        return row

    def run(self) -> None:
        while not self.stopping.wait(PROBE_S):  # the sampling interval
            self.rows.append(self.sample())

    def drained(self) -> bool:
        """Both caught up: the joiner's lag may keep one transaction marker per partition
        of ``scores`` (an offset after its last record, never consumed)."""
        row = self.sample()
        return row["scorer_lag"] == 0 and row["joiner_lag"] <= self.settings.topic_partitions

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


class LabelTimer(threading.Thread):
    """Reads ``feedback`` and ``labelled`` (read_committed) as they are written: each
    feedback's Kafka timestamp, and when its first labelled record arrived here."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.consumer = make_consumer(settings, "bench-label-timer", **{"fetch.wait.max.ms": 5})
        topics = [settings.topic_feedback, settings.topic_labelled]
        tps = []
        for topic in topics:
            parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
            tps += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts]
        self.consumer.assign(tps)
        self.appended: dict[str, int] = {}
        self.received: dict[str, float] = {}
        self.first_ms = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        feedback = self.settings.topic_feedback
        while not self.stopping.is_set():
            # what is queued, else wait for one (consume(n, t) would hold the first back)
            for msg in self.consumer.consume(1000, 0) or self.consumer.consume(1, 0.1):
                if msg.error() is None:
                    self._take(msg, msg.topic() == feedback, time.time() * 1000)
        self.consumer.close()

    def _take(self, msg: Message, is_feedback: bool, now_ms: float) -> None:
        try:
            fid = orjson.loads(msg.value() or b"null").get("feedback_id")
        except (orjson.JSONDecodeError, AttributeError):
            return  # invalid feedback: the joiner dead-letters it, nothing to time
        if not isinstance(fid, str):
            return
        if is_feedback:
            ts = msg.timestamp()[1]
            self.appended.setdefault(fid, ts)
            self.first_ms = self.first_ms or ts
        else:
            self.received.setdefault(fid, now_ms)

    def latencies_ms(self, since_ms: float) -> list[float]:
        """Appended-to-received of every label whose feedback was appended after ``since_ms``."""
        return self.latencies_of(dict(self.appended), dict(self.received), since_ms)

    @staticmethod
    def latencies_of(
        appended: dict[str, int], received: dict[str, float], since_ms: float
    ) -> list[float]:
        return [
            received[f] - appended[f] for f in received if f in appended and appended[f] >= since_ms
        ]

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def missing_labels(settings: Settings) -> dict[str, int]:
    """Every valid feedback of a scored event against the labelled records: how many
    have none (``missing``), and labelled records of no such feedback (``unexpected``)."""
    scored: set[bytes] = set()
    scan_topic(settings, settings.topic_scores, lambda m: scored.add(m.key() or b""), _SCAN_S)
    expected: set[str] = set()

    def feedback(m: Message) -> None:
        fb = parse_feedback(m.value() or b"")
        if not isinstance(fb, Problem) and fb["event_id"].encode() in scored:
            expected.add(fb["feedback_id"])

    n_feedback = scan_topic(settings, settings.topic_feedback, feedback, _SCAN_S)
    got: set[str] = set()
    n_labelled = scan_topic(
        settings,
        settings.topic_labelled,
        lambda m: got.add(orjson.loads(m.value() or b"{}")["feedback_id"]),
        _SCAN_S,
    )
    return {
        "scored_events": len(scored),
        "feedback_records": n_feedback,
        "labels_expected": len(expected),
        "labelled_records": n_labelled,
        "missing": len(expected - got),
        "unexpected": len(got - expected),
    }
