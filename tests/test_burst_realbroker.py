"""A burst against a running scorer on the real broker (issue 26, part 5): a backlog
produced as fast as the client goes while the scorer runs. The lag grows beyond what
the consumer may prefetch, the scorer's RSS stays under the bound its settings imply,
the lag drains to 0, and read_committed every event is scored exactly once."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
from helpers import isolated_settings

from bench.burst import events, fill, scorer
from bench.burst_measure import Sampler, prefetch_bound_mb
from bench.harness import stop
from streams.config import Settings
from streams.dev.realbroker import RealBroker
from streams.kafka import scan_topic

pytestmark = pytest.mark.realbroker

PARTITIONS = 6
WARM = 5_000
"""Events scored before the burst: the scorer's RSS after them is the baseline (its
first batches load the model's and the scoring path's lazily built parts)."""
BURST = 250_000
QUEUE_KBYTES = 8_192
"""A prefetch bound well under the burst's bytes (~85 MiB): an unbounded queue shows."""
RECORD_FOOTPRINT = 8_192
"""The most a record in hand costs the scorer, bytes: its message and bytes, the parsed
event (a dict of ~16 fields), its features, its score record (~1 KiB of JSON) and the
producer's copy of that, with the allocator's slack."""


def rss_bound_mb(baseline_mb: float, settings: Settings) -> float:
    """Baseline RSS, plus the prefetch bound twice (librdkafka's per-record overhead is
    at most a record's own bytes for records this small), plus two batches in hand
    (one scored, one committing) at :data:`RECORD_FOOTPRINT` per record."""
    batches_mb = 2 * settings.batch_max_size * RECORD_FOOTPRINT / (1 << 20)
    return baseline_mb + 2 * prefetch_bound_mb(settings, PARTITIONS) + batches_mb


def test_a_burst_grows_lag_keeps_rss_bounded_and_drains(real_broker: RealBroker) -> None:
    settings = isolated_settings(
        real_broker.bootstrap,
        topic_partitions=PARTITIONS,
        scorer_instance_id="burst",
        consumer_queue_max_kbytes=QUEUE_KBYTES,
        transaction_timeout_ms=10_000,
    )
    messages = events(29, WARM + BURST)
    proc = scorer(settings)
    sampler = Sampler(settings, proc.pid, time.monotonic()).start()
    try:
        fill(settings, messages[:WARM])
        sampler.wait_lag(0, sampler.now(), 60, "the warm-up scored")
        baseline = sampler.samples[-1].rss_mb
        produced_from = sampler.now()
        fill(settings, messages[WARM:])
        sampler.wait_lag(0, sampler.now(), 120, "the burst drained")
        assert proc.poll() is None, f"the scorer ended: {proc.returncode}"
    finally:
        sampler.stop()
        code = stop(proc)
    assert code == 0
    during = [s for s in sampler.samples if s.t >= produced_from]
    mean_bytes = sum(len(m["value"]) + len(m["key"]) for m in messages) / len(messages)
    peak_lag = max(s.lag for s in during)
    # the backlog outgrew what the consumer may hold ahead, so the bound was exercised
    assert peak_lag * mean_bytes > prefetch_bound_mb(settings, PARTITIONS) * (1 << 20)
    peak_rss = max(s.rss_mb for s in during)
    assert peak_rss < rss_bound_mb(baseline, settings), (baseline, peak_rss)
    ids: Counter[str] = Counter()
    scan_topic(
        settings,
        settings.topic_scores,
        lambda m: ids.update([orjson.loads(m.value() or b"")["event_id"]]),
    )
    assert ids == Counter(orjson.loads(m["value"])["event_id"] for m in messages)
