"""What :mod:`bench.burst` measures while a scorer runs: the group's lag and the scorer's
RSS every half second, a producer paced through phases of set rates, and latency per
second of scored records; also the prefetch bound the settings imply.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from confluent_kafka import TopicPartition

from bench.harness import rss_mb
from streams.config import Settings
from streams.dev.local import wait_until
from streams.kafka import DeliveryTracker, flush, make_consumer, make_producer
from streams.kafka.clients import TIMEOUT_S, produce_many
from streams.kafka.groups import committed_offsets
from streams.ops.lag import partition_lag

SAMPLE_S = 0.5
_CHUNK = 5_000
"""Most events handed to librdkafka in one call: a late producer catches up in steps."""
MAX_PARTITION_FETCH_BYTES = 1_048_576
"""librdkafka's max.partition.fetch.bytes (streamscore keeps the default): the queue
bound may be overshot by one fetch of this much per partition."""


@dataclass(frozen=True)
class Sample:
    """One observation: seconds since the run's start, total lag, scorer RSS in MiB."""

    t: float
    lag: int
    rss_mb: float


class Sampler:
    """The scorer group's total lag on the events topic (committed offsets against high
    watermarks) and the scorer's RSS every :data:`SAMPLE_S`, in a thread of its own."""

    def __init__(self, settings: Settings, pid: int, t0: float) -> None:
        self.samples: list[Sample] = []
        self.t0 = t0
        self._pid, self._stop = pid, threading.Event()
        topic = settings.topic_events
        # never subscribes, so it never joins the group; read_uncommitted: an open
        # transaction of the scorer must not hold back the committed-offset fetch
        self._reader = make_consumer(
            settings, settings.scorer_group_id, **{"isolation.level": "read_uncommitted"}
        )
        parts = self._reader.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions
        self._tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def lag(self) -> int:
        """Records the group has still to commit, over every partition."""
        total = 0
        for tp in committed_offsets(self._reader, self._tps):
            low, high = self._reader.get_watermark_offsets(tp, timeout=TIMEOUT_S, cached=False)
            total += partition_lag(low, high, tp.offset)
        return total

    def now(self) -> float:
        """Seconds since the run's start, as samples count them."""
        return time.monotonic() - self.t0

    def start(self) -> Sampler:
        """Sample from now on; self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and close the reader."""
        self._stop.set()
        self._thread.join(30)
        self._reader.close()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            t = self.now()
            self.samples.append(Sample(t, self.lag(), rss_mb(self._pid)))
            due += SAMPLE_S
            self._stop.wait(max(due - time.monotonic(), 0.0))  # the sampling period

    def wait_lag(self, at_most: int, after_t: float, deadline_s: float, what: str) -> float:
        """Wait until a sample taken after ``after_t`` has lag <= ``at_most``; its time."""

        def drained() -> bool:
            s = self.samples[-1] if self.samples else None
            return s is not None and s.t >= after_t and s.lag <= at_most

        wait_until(drained, deadline_s, what)
        return self.samples[-1].t


@dataclass
class Phase:
    """One phase of production: ``rate`` events/s for ``seconds`` (None: until stopped);
    what was sent and when (wall-clock seconds, to compare with records' timestamps)."""

    name: str
    rate: float
    seconds: float | None
    sent: int = 0
    start: float = 0.0
    end: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Target and achieved rate, events sent, seconds."""
        seconds = self.end - self.start
        return {
            "phase": self.name,
            "target_per_s": self.rate,
            "achieved_per_s": round(self.sent / seconds, 1) if seconds > 0 else 0.0,
            "sent": self.sent,
            "seconds": round(seconds, 2),
        }


class PacedProducer:
    """Produces pre-built ``{"key", "value"}`` messages through ``phases`` in a thread:
    each millisecond what is due at the phase's rate. A producer that falls behind
    catches up at once (:data:`_CHUNK` at a time), so a phase's achieved rate is what
    the client and broker could take."""

    def __init__(self, settings: Settings, events: list[dict[str, Any]], phases: list[Phase]):
        self.settings, self.events, self.phases = settings, events, phases
        self.stopped = threading.Event()
        self.sent = 0
        self.delivered = 0
        self.current = ""
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)

    def start(self) -> PacedProducer:
        """Produce from now on; self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the phase under way and wait for every delivery."""
        self.stopped.set()
        self._thread.join(600)

    def _run(self) -> None:
        # linger 1 ms: the load generator's batching, not the system measured
        producer = make_producer(self.settings, **{"linger.ms": 1})
        tracker = DeliveryTracker()
        for phase in self.phases:
            self.current = phase.name
            self._phase(producer, tracker, phase)
            if self.stopped.is_set() or self.sent == len(self.events):
                break
        self.current = "done"
        flush(producer, tracker, timeout_s=300)
        self.delivered = tracker.delivered

    def _phase(self, producer: Any, tracker: DeliveryTracker, phase: Phase) -> None:
        topic = self.settings.topic_events
        phase.start, t0 = time.time(), time.monotonic()
        while not self.stopped.is_set() and self.sent < len(self.events):
            elapsed = time.monotonic() - t0
            if phase.seconds is not None and elapsed >= phase.seconds:
                break
            due = min(int(phase.rate * elapsed) - phase.sent, len(self.events) - self.sent, _CHUNK)
            if due <= 0:
                time.sleep(0.001)  # pacing: the next millisecond's events
                continue
            produce_many(producer, topic, self.events[self.sent : self.sent + due], tracker)
            self.sent += due
            phase.sent += due
            producer.poll(0)  # serve delivery reports
        phase.end = time.time()


def percentiles(latencies_ms: np.ndarray) -> dict[str, float | None]:
    """p50 and p99 in ms (None when empty)."""
    if latencies_ms.size == 0:
        return {"p50": None, "p99": None}
    p50, p99 = np.percentile(latencies_ms, [50, 99]).tolist()
    return {"p50": round(p50, 1), "p99": round(p99, 1)}


def windows(scored_at_ms: np.ndarray, latency_ms: np.ndarray, t0_ms: float) -> list[dict[str, Any]]:
    """p50, p99 and count of the scores made in each second since ``t0_ms``."""
    second = ((scored_at_ms - t0_ms) // 1000).astype(np.int64)
    order = np.argsort(second, kind="stable")
    second, latency = second[order], latency_ms[order]
    starts = np.flatnonzero(np.diff(second, prepend=second[0] - 1))
    out = []
    for chunk_s, chunk in zip(second[starts], np.split(latency, starts[1:]), strict=True):
        out.append({"t": int(chunk_s), "count": int(chunk.size), **percentiles(chunk)})
    return out


def prefetch_bound_mb(settings: Settings, partitions: int) -> float:
    """The most record bytes (MiB) the scorer's consumer fetches ahead of processing:
    ``consumer_queue_max_kbytes``, overshot by at most one fetch per partition."""
    return (settings.consumer_queue_max_kbytes * 1024 + partitions * MAX_PARTITION_FETCH_BYTES) / (
        1 << 20
    )
