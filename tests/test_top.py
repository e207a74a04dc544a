"""``streamscore top`` without a terminal: frames from the metrics the processors really
export (their own registries, rendered as Prometheus text and read over HTTP), a target
that is down, counters that restart, and what is drawn."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from streams.config import Settings
from streams.ops.http import ObservabilityServer
from streams.ops.metrics import JoinerMetrics, JoinerSnapshot, ScorerMetrics
from streams.views import top
from streams.views.scrape import Scrape, fetch, parse
from streams.views.top_frame import Thresholds, build_frame, quantile
from streams.views.top_render import plain_line, render

THRESHOLDS = Thresholds.from_settings(Settings(drift_psi_threshold=0.2))


def read(registry: CollectorRegistry, at: float, target: str = "scorer:1") -> Scrape:
    return Scrape(target, at, parse(generate_latest(registry).decode()))


def test_rates_latency_decisions_and_dead_letters_from_the_scorers_metrics() -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    m.consumed.inc(1_000)
    m.scored.inc(990)
    first = read(registry, at=10.0)
    m.consumed.inc(400)  # 2 s later: 200 events/s in
    m.scored.inc(390)
    m.dead_lettered.labels(reason="malformed_json").inc(10)
    m.decisions.labels(decision="approve").inc(370)
    m.decisions.labels(decision="decline").inc(20)
    m.latency.observe_many(np.array([0.004] * 98 + [0.3, 0.3]))  # 2% slow: p99 among them
    frame = build_frame([first], [read(registry, at=12.0)], THRESHOLDS)

    assert (frame.consumed, frame.scored) == (1_400.0, 1_380.0)
    assert frame.in_rate == pytest.approx(200.0)
    assert frame.out_rate == pytest.approx(200.0)  # 390 scores + 10 dead letters in 2 s
    assert frame.p50 is not None and 0.0025 < frame.p50 <= 0.005
    assert frame.p99 is not None and 0.25 < frame.p99 <= 0.5
    assert frame.decisions == {"approve": 370.0, "decline": 20.0}
    assert frame.dead_letters == {("scorer", "malformed_json"): 10.0}
    assert frame.targets[0].role == "scorer"


def test_latency_is_of_the_events_between_the_reads() -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    m.latency.observe_many(np.full(1_000, 5.0))  # a slow start, long ago
    first = read(registry, at=0.0)
    m.latency.observe_many(np.full(10, 0.004))
    frame = build_frame([first], [read(registry, at=1.0)], THRESHOLDS)
    assert frame.p99 is not None and frame.p99 <= 0.005
    p50 = build_frame([], [first], THRESHOLDS).p50  # the first read: all events
    assert p50 is not None and 2.5 < p50 <= 10.0


def test_a_restarted_counter_counts_from_zero() -> None:
    before = Scrape("s:1", 0.0, parse("streamscore_events_consumed_total 5000\n"))
    after = Scrape("s:1", 1.0, parse("streamscore_events_consumed_total 30\n"))
    assert build_frame([before], [after], THRESHOLDS).in_rate == pytest.approx(30.0)


def test_quantile_is_prometheus_histogram_quantile() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
    assert quantile(0.99, {0.1: 1.0, float("inf"): 100.0}) == pytest.approx(0.1)  # in +Inf


def test_drift_over_the_settings_threshold_comes_first_and_is_red() -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    for feature, psi in (("amount", 0.05), ("country", 0.35), ("channel", 0.19)):
        m.drift_value.labels(measure="psi", feature=feature).set(psi)
    m.drift_value.labels(measure="unseen_rate", feature="channel").set(0.5)  # over 0.05
    m.drift_value.labels(measure="decision_share", feature="approve").set(0.9)  # not a feature
    frame = build_frame([], [read(registry, 0.0)], THRESHOLDS)
    assert [(r.feature, sorted(r.over)) for r in frame.drift] == [
        ("country", ["psi"]),
        ("channel", ["unseen_rate"]),
        ("amount", []),
    ]
    console = Console(width=120, record=True, force_terminal=True, color_system="standard")
    console.print(render(frame))
    assert re.search(r"\x1b\[1;31mcountry", console.export_text(styles=True))
    assert not re.search(r"\x1b\[1;31mamount", console.export_text(styles=True))


def test_joiner_quality_dead_letters_and_alerts_as_they_rise() -> None:
    registry = CollectorRegistry()
    joiner = JoinerMetrics(registry)
    snap = JoinerSnapshot(
        events={"joined": 40},
        unmatched={},
        dead_lettered={"wrong_type": 3},
        misrouted={},
        concept_alerts=0,
        state_entries=12,
        quality={"v1": {"roc_auc": 0.84, "log_loss": 0.2}, "v2": {"roc_auc": 0.9}},
        estimate={"v1": {"estimated_auc": 0.88}},
    )
    joiner.observe(snap)
    first = build_frame([], [read(registry, 0.0, "joiner:1")], THRESHOLDS)
    joiner.observe(
        snap.__class__(**{**snap.__dict__, "events": {"joined": 60}, "concept_alerts": 1})
    )
    later = read(registry, 2.0, "joiner:1")
    second = build_frame([read(registry, 0.0, "joiner:1")], [later], THRESHOLDS, first.alerts)

    assert first.targets[0].role == "joiner"
    assert first.quality == {
        "v1": {"roc_auc": 0.84, "log_loss": 0.2, "estimated_auc": 0.88},
        "v2": {"roc_auc": 0.9},
    }
    assert first.dead_letters == {("joiner", "wrong_type"): 3.0}
    assert first.alerts == ()
    assert [(a.signal, a.count, a.last_seen) for a in second.alerts] == [
        ("concept", 1.0, later.wall)
    ]


def test_lag_per_partition_the_largest_where_two_targets_report_one() -> None:
    text = (
        "# TYPE streamscore_consumer_lag gauge\n"
        'streamscore_consumer_lag{group="g",topic="events",partition="1"} 7\n'
        'streamscore_consumer_lag{group="g",topic="events",partition="0"} 3\n'
    )
    other = 'streamscore_consumer_lag{group="g",topic="events",partition="1"} 9\n'
    frame = build_frame(
        [], [Scrape("a:1", 0, parse(text)), Scrape("b:1", 0, parse(other))], THRESHOLDS
    )
    assert [(r.partition, r.lag) for r in frame.lag] == [(0, 3.0), (1, 9.0)]
    assert frame.total_lag == 12.0
    assert frame.targets[0].role == "lag"


@pytest.fixture
def scorer_port() -> Iterator[tuple[ScorerMetrics, str]]:
    registry = CollectorRegistry()
    server = ObservabilityServer(0, registry, lambda: {"ok": True}, "127.0.0.1").start()
    try:
        yield ScorerMetrics(registry), f"127.0.0.1:{server.port}"
    finally:
        server.stop()


def _closed_port() -> str:
    server = ObservabilityServer(0, CollectorRegistry(), dict, "127.0.0.1").start()
    port = server.port
    server.stop()  # bound and released: nothing listens there now
    return f"127.0.0.1:{port}"


def test_a_target_that_is_down_is_shown_and_the_others_still_read(
    scorer_port: tuple[ScorerMetrics, str],
) -> None:
    metrics, up = scorer_port
    metrics.scored.inc(1234)
    down = _closed_port()
    assert not fetch(down).up
    frame = build_frame([], [fetch(up), fetch(down)], THRESHOLDS)
    assert [(t.target, t.up) for t in frame.targets] == [(up, True), (down, False)]
    assert frame.scored == 1234
    assert plain_line(frame).endswith(f"down: {down}")
    console = Console(width=120, record=True)
    console.print(render(frame))
    assert f"{down} DOWN" in console.export_text()


def test_once_prints_a_screen_and_says_whether_a_target_was_up(
    scorer_port: tuple[ScorerMetrics, str], capsys: pytest.CaptureFixture[str]
) -> None:
    metrics, up = scorer_port
    metrics.scored.inc(4321)
    metrics.decisions.labels(decision="review").inc(17)
    parser = argparse.ArgumentParser()
    top.add_arguments(parser)
    args = parser.parse_args(["--targets", up, "--once", "--interval", "0.1"])
    assert top.run(Settings(), args) == 0
    screen = capsys.readouterr().out
    assert re.search(r"scored\s+4,321", screen)
    assert re.search(r"review\s+17\s+100\.0%", screen)

    down = parser.parse_args(["--targets", _closed_port(), "--once", "--no-live"])
    assert top.run(Settings(), down) == 1
    assert capsys.readouterr().out.startswith("top: no target up")


def test_no_data_yet_draws_every_section() -> None:
    frame = build_frame(
        [], [Scrape("s:1", 0.0, parse("streamscore_events_consumed_total 0\n"))], THRESHOLDS
    )
    console = Console(width=160, record=True)
    console.print(render(frame))
    text = console.export_text()
    for section in ("throughput", "decisions: none", "alerts: none", "drift: no full window"):
        assert section in text
    assert plain_line(frame).startswith("top: events in - out - (consumed 0, scored 0)")
