"""bench.burst's arithmetic without a broker: latency windows, phases, the prefetch bound."""

from __future__ import annotations

import numpy as np

from bench.burst_measure import Phase, percentiles, prefetch_bound_mb, windows
from streams.config import Settings
from streams.kafka.config import librdkafka_config


def test_windows_group_scores_by_the_second_they_were_made() -> None:
    scored_at = np.array([1_000.0, 1_500.0, 2_999.0, 1_200.0, 4_000.0])
    latency = np.array([5.0, 7.0, 100.0, 6.0, 1.0])
    rows = windows(scored_at, latency, t0_ms=1_000.0)
    assert [(r["t"], r["count"]) for r in rows] == [(0, 3), (1, 1), (3, 1)]
    assert rows[0]["p50"] == 6.0
    assert rows[1]["p99"] == 100.0


def test_percentiles_of_nothing_are_none() -> None:
    assert percentiles(np.array([])) == {"p50": None, "p99": None}


def test_a_phase_reports_the_rate_it_achieved_beside_its_target() -> None:
    phase = Phase("burst", 50_000.0, 60.0, sent=2_400_000, start=100.0, end=160.0)
    assert phase.summary()["achieved_per_s"] == 40_000.0
    assert phase.summary()["target_per_s"] == 50_000.0


def test_consumers_get_the_queue_bound_and_producers_do_not() -> None:
    s = Settings(bootstrap_servers="127.0.0.1:9092", consumer_queue_max_kbytes=4_096)
    assert librdkafka_config(s, **{"group.id": "g"})["queued.max.messages.kbytes"] == 4_096
    assert "queued.max.messages.kbytes" not in librdkafka_config(s)
    assert prefetch_bound_mb(s, partitions=6) == 4 + 6


def test_the_bursts_section_puts_each_burst_beside_c_and_the_bound() -> None:
    from bench.report_reliability import burst

    phases = [
        Phase("steady", 5_000.0, 30.0, 150_000, 0.0, 30.0).summary(),
        Phase("burst", 100_000.0, 60.0, 4_200_000, 30.0, 90.0).summary(),
        Phase("after", 5_000.0, None, 500_000, 90.0, 190.0).summary(),
    ]
    p99 = {"p50": 5.0, "p99": 14.0}
    run = {
        "factor": 20.0,
        "phases": phases,
        "burst_start_s": 30.0,
        "peak_lag": 1_234_567,
        "peak_lag_at_s": 90.5,
        "drain_s": None,
        "rss_mb": {"steady": 160.0, "peak_burst_and_backlog": 290.0, "after": None},
        "latency_ms": {"steady_before": p99, "burst": p99, "after_drain": p99},
        "scored": 4_850_000,
        "lost": 0,
        "duplicated": 0,
    }
    result = {
        "command": "python -m bench.burst --rate 5000 --factor 20",
        "config": {"partitions": 6, "rate": 5_000.0, "steady_s": 30, "burst_s": 60, "after_s": 30},
        "capacity": {"events": 500_000, "per_s": 60_849, "rss_mb_start": 145.5, "rss_mb_peak": 325},
        "prefetch_bound_mb": 70.0,
        "runs": [run],
    }
    text = "\n".join(burst(result))
    assert "| 20x | burst | 100,000 | 70,000 | 4,200,000 | 60.0 |" in text
    assert (
        "| 20x | 60,849 | 1.15 | 1,234,567 at 60 s in | not drained | 160.0 / 290.0 / - | 70.0 |"
        in text
    )
