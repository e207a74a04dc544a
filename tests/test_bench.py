"""The benchmark harness's own arithmetic and report (the runs themselves need minutes)."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from bench.baselines.io_limit import Copy
from bench.harness import cpu_seconds, jit_cpu_seconds
from bench.joiner import summarise as summarise_joiner
from bench.joiner_recovery import stall_after
from bench.latency import ScoreReader, percentiles, valid_among, warm_up
from bench.memory import summarise
from bench.report import drift, drift_detectors, joiner, latency, memory, throughput
from bench.report_velocity import commit_cost
from bench.system_probes import LabelTimer
from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.dev.local import wait_until
from streams.dev.realbroker import RealBroker
from streams.kafka import make_producer
from streams.kafka.embedded import EmbeddedBroker


def test_valid_among_counts_cycled_payloads() -> None:
    valid = [True, False, True, True]
    assert valid_among(valid, 0) == 0
    assert valid_among(valid, 2) == 1
    assert valid_among(valid, 4) == 3
    assert valid_among(valid, 10) == 3 + 3 + 1


def test_percentiles_are_in_the_unit_given() -> None:
    p = percentiles([float(v) for v in range(1, 101)])
    assert p["p50"] == pytest.approx(50.5)
    assert p["p99"] == pytest.approx(99.0, abs=0.1)
    assert p["max"] == 100.0


def test_memory_growth_compares_the_last_minute_with_the_second() -> None:
    # 100 MiB through minute 2, then a steady climb to 110 in the last minute
    samples = [(t, 100.0 if t < 120 else 100.0 + (t - 120) / 480 * 10) for t in range(0, 600, 5)]
    s = summarise(samples, minutes=10)
    assert s["minute2_mb"] == 100.0
    assert 8.0 < s["growth_pct"] < 10.0
    assert s["peak_mb"] == pytest.approx(max(mb for _, mb in samples), abs=0.05)


def test_cpu_seconds_counts_a_child_process_busy_on_a_core() -> None:
    spin = "import time\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", spin + "\ntime.sleep(60)"])
    try:
        # it spins for 1.5 s of CPU, then sleeps; its time counts in ours while it lives.
        # Compared by difference: other children of this process (a test broker) run too
        wait_until(lambda: cpu_seconds(child.pid) >= 1.4, 30, "the child's CPU")
        with_child = cpu_seconds(os.getpid())
        without = cpu_seconds(os.getpid(), exclude=[child.pid])
        assert cpu_seconds(child.pid) == pytest.approx(1.5, abs=0.3)
        assert with_child - without == pytest.approx(cpu_seconds(child.pid), abs=0.1)
    finally:
        child.kill()
        child.wait()


def _run_once(calls: list[int]) -> dict[str, object]:
    calls.append(1)
    return {"timestamp_ms": {"p99": 10.0 + len(calls)}}


def test_warm_up_runs_until_the_jit_share_is_under_the_threshold() -> None:
    calls: list[int] = []
    # this process has no JIT compiler threads: its share is 0, settled at once
    runs = warm_up(lambda: _run_once(calls), os.getpid(), max_runs=4, settled=0.03)
    assert runs == [{"p99_ms": 11.0, "broker_jit_core_share": 0.0}]
    # a threshold nothing is under: every run allowed
    calls.clear()
    assert len(warm_up(lambda: _run_once(calls), os.getpid(), 4, settled=0.0)) == len(calls) == 4
    # a broker this process cannot see: one run, its share unknown
    calls.clear()
    assert warm_up(lambda: _run_once(calls), None, 4, 0.03) == [
        {"p99_ms": 11.0, "broker_jit_core_share": None}
    ]
    assert warm_up(lambda: _run_once(calls), None, 0, 0.03) == []


@pytest.mark.realbroker
def test_jit_cpu_seconds_finds_the_broker_jvms_compiler_threads(real_broker: RealBroker) -> None:
    assert real_broker.pid is not None
    # a started broker has compiled thousands of methods; a Python process has no JIT
    assert 0.1 < jit_cpu_seconds(real_broker.pid) < cpu_seconds(real_broker.pid)
    assert jit_cpu_seconds(os.getpid()) == 0.0


def test_bench_refuses_an_unknown_benchmark_before_running_any() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "latency", "nope"], capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert b"unknown benchmark nope: choose from throughput, latency, memory" in done.stderr
    assert b"bench: " not in done.stdout  # nothing started


def test_report_sections_render_ratios_and_counts() -> None:
    rows = [
        {
            "pipeline": "streamscore",
            "events": 1000,
            "seconds": 1.0,
            "events_per_s": 1000.0,
            "rounds_events_per_s": [900.0, 1000.0, 1100.0],
            "cpu_us_per_event": {"process": 12.34, "broker": 5.0},
        },
        {"pipeline": "naive", "events": 100, "seconds": 1.0, "events_per_s": 100.0},
    ]
    stages = {"streamscore": {"validate": 1.5, "commit": 2.0}, "other": {"commit": 3.0}}
    text = "\n".join(throughput({"command": "c", "rows": rows, "stages": stages}))
    assert "| naive | 100 | 1.0 | 100 | 10.00 | - | - | - |" in text
    assert "| 1.00 | 900, 1,000, 1,100 | 12.3 | 5.0 |" in text
    assert "| pipeline | validate | commit |" in text
    assert "| streamscore | 1.50 | 2.00 |" in text and "| other | - | 3.00 |" in text
    run = {"rate": 5000, "pipeline": "limit", "guarantee": "at_least_once",
           "scores_counted": 9, "scores_read": 10, "scores_expected": 10,
           "timestamp_ms": {"p50": 1, "p95": 2, "p99": 3, "max": 4},
           "visible_ms": {"p50": 5, "p95": 6, "p99": 7, "max": 8},
           "broker_jit_core_share": 0.0123}  # fmt: skip
    warm = [{"p99_ms": 30.0, "broker_jit_core_share": 0.25}]
    text = "\n".join(latency({"command": "c", "runs": [run], "warmup": warm}))
    assert "| 5,000 | limit | at_least_once | 9 | 10 / 10 | 1 | 2 | 3 | 4 | 5 | 7 | 1.2% |" in text
    assert "Warm-up, not reported: 1 run at 5,000 events/s; broker JIT 25.0%; p99 30.0 ms." in text
    proc = {"peak_mb": 120.4, "steady_mb": 110.0, "growth_pct": 1.25, "processed": 1234}
    mem = {"command": "c", "rate": 1000, "seconds": 600, "processes": {"scorer": proc}}
    assert "| scorer | 120 | 110 | +1.2% | 1,234 |" in "\n".join(memory(mem))
    mem["samples"] = {"scorer": [[10.0, 100.0], [50.0, 110.0], [70.0, 130.0]]}
    text = "\n".join(memory({**mem, "seconds": 120}))
    assert "| process | min 1 | min 2 |" in text and "| scorer | 105 | 130 |" in text


def test_joiner_catch_up_is_summarised_as_ratios_and_rendered() -> None:
    runs = [
        {
            "kind": "baseline",
            "round": 0,
            "timed_records": 90_000,
            "records_per_s": 1_000,
            "state": {"entries": 500, "bytes_per_entry": 900.0},
        },
        {
            "kind": "joiner",
            "round": 0,
            "timed_records": 400_000,
            "records_per_s": 30_000,
            "state": {"entries": 480_000, "bytes_per_entry": 120.4},
        },
        {"kind": "limit", "round": 0, "records": 600_000, "records_per_s": 150_000},
        {
            "kind": "joiner",
            "round": 1,
            "timed_records": 400_000,
            "records_per_s": 34_000,
            "state": {"entries": 480_000, "bytes_per_entry": 121.0},
        },
        {"kind": "limit", "round": 1, "records": 600_000, "records_per_s": 170_000},
    ]
    summary = summarise_joiner(runs)
    assert summary["joiner_records_per_s"] == 32_000
    assert (summary["over_baseline"], summary["of_limit"]) == (32.0, 0.2)
    text = "\n".join(joiner({"command": "c", "events": 9, "summary": summary, "runs": runs}))
    assert "**32,000 records/s**, 32.0 times the per-record baseline, 0.20 of the limit" in text
    assert "| joiner | 1 | 400,000 | 30,000 | 480,000 | 120 |" in text
    assert "| limit | 2 | 600,000 | 170,000 | - | - |" in text


def test_a_stall_is_the_longest_gap_from_the_kill_on() -> None:
    times = [1.0, 2.0, 10.0, 10.5, 11.0]
    assert stall_after(times, 1.5) == 8.0
    assert stall_after(times, 9.0) == 1.0
    assert LabelTimer.latencies_of({"a": 100, "b": 5}, {"a": 130, "b": 9, "c": 1}, 50) == [30]


def test_drift_report_puts_each_signals_delays_at_both_batch_sizes_side_by_side() -> None:
    def row(batch: int, signal: str, delays: list[int | None]) -> dict[str, object]:
        return {
            "scenario": "s",
            "batch": batch,
            "signal": signal,
            "delays": delays,
            "first_feature": "amount" if any(delays) else None,
            "alerts_before_drift": 0,
        }

    rows = [
        row(250, "mean_shift", [750, 500, None]),
        row(5_000, "mean_shift", [750, 500, None]),
        row(250, "distribution", [None] * 3),
        row(5_000, "distribution", [None] * 3),
    ]
    rates = {"mean_shift": 0.05, "distribution": 0.0, "missing_rate": 0.0, "unseen_rate": 0.0}
    fa = {
        "events": 2_000_000,
        "seeds": 20,
        "per_100k": {"batch 250": rates},
        "alerts": {"batch 250": {k: int(v * 20) for k, v in rates.items()}},
    }
    cost = {
        "events": 10,
        "rounds": 3,
        **{
            b: {"pipeline_us_per_event": 7.0, "drift_us_per_event": 0.5, "drift_share": 0.5 / 7.5}
            for b in ("250", "5000")
        },
    }
    result = {"command": "c", "seeds": [1, 2, 3], "false_alarms": fa, "cost": cost,
              "delays": {"rows": rows, "identical_across_batch_sizes": True}}  # fmt: skip
    text = "\n".join(drift(result))
    assert (
        "| s | mean_shift (amount) | 750 (500 to 750), 1 missed | 750 (500 to 750), 1 missed"
        in text
    )
    assert "distribution (" not in text  # never fired: left out
    assert "| batch 250 | 0.00 (0) | 0.05 (1) | 0.00 (0) | 0.00 (0) |" in text
    assert "| 5,000 | 7.00 | 0.50 | 6.7% |" in text and "identical at both batch sizes: yes" in text


def test_detector_comparison_renders_a_row_per_candidate() -> None:
    row = {"candidate": "PH", "stationary_firings": 2, "per_100k": 0.04, "us_per_update": 1.25,
           "delays": {"x3": [250, 250], "x1.2": [None, None]}}  # fmt: skip
    result = {"command": "c", "stationary_events": 5_000_000, "seeds": [1, 2], "rows": [row]}
    text = "\n".join(drift_detectors(result))
    assert "| candidate | per 100,000 stationary (firings) | µs per update | x3 | x1.2 |" in text
    assert "| PH | 0.04 (2) | 1.2 | 250 | - |" in text


def test_latency_reader_hands_over_a_score_without_waiting_for_more() -> None:
    # consume(n, t) keeps what it has until n records or t seconds have come: a reader
    # built on it alone counted up to t of its own waiting as every score's latency
    with EmbeddedBroker() as broker:
        broker.create_topics(["scores"])
        settings = Settings(bootstrap_servers=broker.bootstrap, topic_scores="scores")
        reader = ScoreReader(settings, poll_s=60)
        reader.start()
        producer = make_producer(settings)
        producer.produce("scores", orjson.dumps({"event_timestamp": 1}))
        producer.flush(10)
        wait_until(lambda: len(reader.rows) == 1, 20, "the one score, before the poll's 60 s")
        reader.stopping.set()
        producer.produce("scores", orjson.dumps({"event_timestamp": 2}))  # ends the poll
        producer.flush(10)
        reader.join(30)
    assert not reader.is_alive()
    assert reader.rows[0][0] == 1


def test_latency_limit_copies_each_event_timestamp_in_order() -> None:
    batch = [InRecord(Origin("events", p, o, 1000 + o), b"k", b"{bad") for p, o in [(1, 5), (0, 2)]]
    out = Copy("scores").process(batch, now_ms=0)
    assert out.scored == 2
    assert [(r.topic, r.key, orjson.loads(r.value or b"")) for r in out.records] == [
        ("scores", b"k", {"event_timestamp": 1005}),
        ("scores", b"k", {"event_timestamp": 1002}),
    ]


def test_the_chaos_section_shows_faults_and_every_count() -> None:
    from bench.report_reliability import chaos

    outcome = {"events_sent": 27_000, "scored": 26_069, "dead_lettered": 931,
               "labels_expected": 8_479, "labelled": 11_966, "lost": 0, "duplicated": 0,
               "labelled_reemitted": 3_487}  # fmt: skip
    result = {"command": "python -m bench.chaos", "scorers": 3, "joiners": 2, "rate": 300.0,
              "minutes": 15, "kills_total": 5, "kills": {"mid-stream": 4, "during recovery": 1},
              "broker_restarts_total": 1, "broker_restarts": {"sigterm": 1},
              "exits": {"3": 2}, "outcome": outcome}  # fmt: skip
    text = "\n".join(chaos(result))
    assert "| process kills | 5 | mid-stream: 4, during recovery: 1 |" in text
    assert "| exits restarted | 2 | exit 3: 2 |" in text
    assert "| 27,000 | 26,069 | 931 | 8,479 | 11,966 | 0 | 0 | 3,487 |" in text


def test_the_commit_cost_section_has_a_row_per_run_with_each_stage() -> None:
    row = {"round": 1, "pipeline": "streamscore", "partitions": 12, "batches": 2427,
           "mean_batch": 61.8, "stage_ms": {"commit": 10.141, "features": 0.111}}  # fmt: skip
    text = "\n".join(commit_cost({"command": "c", "rate": 5000, "seconds": 30, "rows": [row]}))
    assert "5,000 events/s for 30 s" in text
    assert "| streamscore | 12 | 2 | 2,427 | 61.8 | 0.00 | 0.11 |" in text
    assert text.rstrip().endswith("| 10.14 |")
