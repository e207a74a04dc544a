"""``streamscore demo``: the whole pipeline on the embedded broker, with proof nothing was lost.

It starts librdkafka's mock cluster in-process, runs the scorer and the joiner in
threads, produces generated events (5% messy) and delayed feedback paced to what
the scorer consumes (the mock silently drops data beyond about 5 MB per
partition), then reports counts by outcome and checks: every event came out
exactly once as a score or a dead letter, every score and feedback reached the
joiner, and no partition's low watermark moved (nothing was dropped).

On the embedded broker the scorer runs at-least-once: the mock's transactions are
not real. Exactly-once is shown by the real-broker tests.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.dev.generator import DriftSpec, FeedbackSpec, GeneratorConfig, generate
from streams.dev.messy import MessySpec
from streams.dev.produce import ProduceSummary, write_records
from streams.errors import StreamscoreError
from streams.feedback.app import changelog_topic, check_copartitioned, input_topics, snapshot
from streams.feedback.background import BackgroundJoiner
from streams.feedback.processor import JoinProcessor
from streams.kafka import watermarks
from streams.kafka.runtime import Runtime, connect, require_topics
from streams.ops.http import ObservabilityServer
from streams.ops.lag import LagCollector
from streams.ops.metrics import JoinerMetrics
from streams.scoring.factory import build_scorer
from streams.scoring.scorer import Scorer, ScorerStats
from streams.views.report import write_report
from streams.views.top_frame import Thresholds
from streams.views.top_thread import BackgroundTop

log = logging.getLogger(__name__)

IN_FLIGHT_LIMIT = 4_000
"""Most events the producer may be ahead of the scorer (keeps the mock under its cap)."""
VIEW_INTERVAL_S = {"live": 1.0, "plain": 3.0}
"""How often the view redraws, or prints its plain line."""


@dataclass
class DemoReport:
    """Everything the demo prints, and the checks it makes."""

    produced: ProduceSummary
    scorer: ScorerStats
    joiner: JoinProcessor | None
    out_counts: dict[str, int]
    dropped: dict[str, int]
    seconds: float  # from start until the scorer had consumed every event

    def problems(self) -> list[str]:
        """Failed checks; empty when nothing was lost, duplicated or dropped."""
        out = []
        dead = sum(self.scorer.dead_letters.values())
        if self.scorer.consumed != self.produced.events:
            out.append(f"scorer consumed {self.scorer.consumed} of {self.produced.events} events")
        if self.out_counts["scores"] != self.scorer.scored:
            out.append(f"scores topic has {self.out_counts['scores']}, scored {self.scorer.scored}")
        if self.out_counts["dlq"] != dead:
            out.append(f"dlq topic has {self.out_counts['dlq']}, dead-lettered {dead}")
        if self.scorer.scored != self.produced.expected_valid:
            out.append(
                f"scored {self.scorer.scored}, but {self.produced.expected_valid} were valid"
            )
        out += [f"{t}: {n} records dropped by the broker" for t, n in self.dropped.items() if n]
        if self.joiner is not None:
            seen = self.joiner.handled
            if seen["scores"] != self.scorer.scored or seen["feedback"] != self.produced.feedback:
                out.append(
                    f"joiner saw {dict(seen)}, expected {self.scorer.scored} scores and "
                    f"{self.produced.feedback} feedback"
                )
            c = self.joiner.join.counts
            if self.out_counts["labelled"] != c.joined + c.reemitted:
                out.append(
                    f"labelled has {self.out_counts['labelled']}, joined {c.joined}, "
                    f"re-emitted {c.reemitted}"
                )
        return out

    def _join_lines(self) -> list[str]:
        if self.joiner is None:
            return []
        c = self.joiner.join.counts
        quality = ", ".join(
            f"{v}: rolling AUC {q['roc_auc']:.3f}, log loss {q['log_loss']:.3f}, "
            f"precision {q['precision']:.2f}, recall {q['recall']:.2f}"
            for v, q in self.joiner.quality.snapshot().items()
        )
        return [
            f"  joiner: labelled {c.joined} (corrections {c.corrections}), duplicate feedback "
            f"{c.duplicates}, join state {len(self.joiner.join)} entries, dead-lettered "
            f"{sum(self.joiner.dead_letters.values())}",
            f"  online quality: {quality or 'no labels yet'}",
        ]

    def render(self) -> str:
        """The demo's summary for a person."""
        s = self.scorer
        rate = s.consumed / self.seconds if self.seconds else 0.0
        lines = [
            "streamscore demo: embedded broker (librdkafka mock cluster), at-least-once",
            f"  {self.produced.render()}",
            f"  scorer: consumed {s.consumed} in {s.batches} batches ({rate:,.0f} events/s), "
            f"scored {s.scored} (fallback {s.fallback}), dead-lettered "
            f"{sum(s.dead_letters.values())}, drift alerts {s.drift_alerts}",
            "  decisions: " + ", ".join(f"{k}={v}" for k, v in sorted(s.decisions.items())),
            "  dead letters by reason: "
            + (", ".join(f"{k}={v}" for k, v in sorted(s.dead_letters.items())) or "none"),
            *self._join_lines(),
            f"  topics: scores={self.out_counts['scores']} events.dlq={self.out_counts['dlq']} "
            f"labelled={self.out_counts['labelled']}, dropped by broker: "
            f"{sum(self.dropped.values())}",
        ]
        problems = self.problems()
        lines.append(
            "  check: OK, every event is exactly one score or one dead letter, nothing dropped"
            if not problems
            else "  check FAILED: " + "; ".join(problems)
        )
        return "\n".join(lines)


def _topic_counts(settings: Settings) -> tuple[dict[str, int], dict[str, int]]:
    named = {
        "events": settings.topic_events,
        "scores": settings.topic_scores,
        "dlq": settings.topic_dlq,
        "feedback": settings.topic_feedback,
        "labelled": settings.topic_labelled,
    }
    marks = {k: watermarks(settings, t) for k, t in named.items()}
    counts = {k: sum(high - low for low, high in m.values()) for k, m in marks.items()}
    dropped = {named[k]: sum(low for low, _ in m.values()) for k, m in marks.items()}
    return counts, dropped


def _drain(stats: ScorerStats, target: int, thread: threading.Thread, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while stats.consumed < target and thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.05)  # waits on the scorer thread, waking to re-check the condition


def _start_joiner(rt: Runtime) -> BackgroundJoiner:
    settings = rt.settings
    partitions = check_copartitioned(
        require_topics(settings, [settings.topic_scores, settings.topic_feedback])
    )
    if rt.embedded is not None:
        rt.embedded.create_topics([changelog_topic(settings)])
    # the embedded broker is gone at exit, so its join state need not outlive the demo
    if rt.on_embedded:
        settings = settings.model_copy(update={"joiner_store": "memory://"})
    return BackgroundJoiner(settings, partitions, topic_allow_declare=not rt.on_embedded).start()


def _drain_joiner(joiner: BackgroundJoiner, scores: int, feedback: int, deadline_s: float) -> None:
    assert joiner.processor is not None
    seen = joiner.processor.handled
    deadline = time.monotonic() + deadline_s
    while (
        (seen["scores"] < scores or seen["feedback"] < feedback)
        and joiner.healthy
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)  # polling the joiner thread's counters, bounded by the deadline


def _mirror_joiner(joiner: BackgroundJoiner, metrics: JoinerMetrics, stop: threading.Event) -> None:
    """Bring the joiner's metrics up to date every second, as its worker's timer does."""
    while not stop.wait(1.0):
        if joiner.processor is None:
            continue
        try:
            metrics.observe(snapshot(joiner.processor))
        except RuntimeError:  # a dict the joiner's thread grew while read: next second
            continue


@contextmanager
def _metrics_ports(
    rt: Runtime, scorer: Scorer, registry: CollectorRegistry, joiner: BackgroundJoiner | None
) -> Iterator[list[str]]:
    """The scorer's (and the joiner's) /metrics, with their lag, on free ports of this
    host while the block runs; yields their ``host:port`` for the view."""
    settings = rt.settings
    group, events = settings.scorer_group_id, [settings.topic_events]
    registry.register(LagCollector(settings, group, events, lambda: set(scorer.io.assigned or ())))
    servers = [ObservabilityServer(0, registry, scorer.checks, "127.0.0.1").start()]
    stop = threading.Event()
    if joiner is not None:
        joined = CollectorRegistry()
        metrics = JoinerMetrics(joined)
        joined.register(LagCollector(settings, settings.joiner_group_id, input_topics(settings)))
        servers.append(
            ObservabilityServer(0, joined, lambda: {"running": joiner.healthy}, "127.0.0.1").start()
        )
        threading.Thread(target=_mirror_joiner, args=(joiner, metrics, stop), daemon=True).start()
    try:
        yield [f"{s.host}:{s.port}" for s in servers]
    finally:
        stop.set()
        for server in servers:
            server.stop()


@contextmanager
def _view(rt: Runtime, targets: list[str], view: str | None) -> Iterator[None]:
    """``streamscore top`` on ``targets`` while the block runs (``view``: live or plain)."""
    if view is None:
        yield
        return
    thresholds = Thresholds.from_settings(rt.settings)
    top = BackgroundTop(targets, thresholds, VIEW_INTERVAL_S[view], view == "live", sys.stdout)
    with top:
        yield


def run_pipeline(
    rt: Runtime,
    config: GeneratorConfig,
    rate: float,
    with_joiner: bool = True,
    view: str | None = None,
) -> DemoReport:
    """Produce ``config``'s records through the scorer (and joiner) threads and report;
    ``view`` ("live" or "plain") shows ``streamscore top`` of them meanwhile."""
    registry = CollectorRegistry()
    scorer = build_scorer(rt.settings, registry, exactly_once=not rt.on_embedded)
    joiner = _start_joiner(rt) if with_joiner else None
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            scorer.run(stop)
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="scorer", daemon=True)

    def throttle(written: int) -> None:
        while written - scorer.stats.consumed > IN_FLIGHT_LIMIT and thread.is_alive():
            thread.join(0.01)

    with _metrics_ports(rt, scorer, registry, joiner) as targets, _view(rt, targets, view):
        t0 = time.monotonic()
        thread.start()
        try:
            produced = write_records(rt.settings, generate(config), rate, throttle)
            _drain(scorer.stats, produced.events, thread, deadline_s=120)
            scorer_seconds = time.monotonic() - t0
            if joiner is not None:
                _drain_joiner(joiner, scorer.stats.scored, produced.feedback, deadline_s=120)
        finally:
            stop.set()
            thread.join(30)
            if joiner is not None:
                joiner.stop()
    if errors:
        raise StreamscoreError(f"scorer failed: {errors[0]}") from errors[0]
    counts, dropped = _topic_counts(rt.settings)
    processor = joiner.processor if joiner is not None else None
    return DemoReport(produced, scorer.stats, processor, counts, dropped, scorer_seconds)


def run_demo(
    settings: Settings,
    count: int,
    rate: float,
    seed: int,
    drift_at: int | None = None,
    live: bool | None = None,
    report_to: Path | None = None,
) -> int:
    """``streamscore demo``; exit 0 when every check passes. While it runs it shows
    ``streamscore top`` of its processors: redrawn when ``live`` (None: when stdout is a
    terminal), else a plain line every few seconds. At the end, before the broker goes,
    it writes the run's HTML report to ``report_to`` (None: none) and prints its path."""
    drift = (DriftSpec(drift_at, amount_scale=3.0, merchant_shift=0.5),) if drift_at else ()
    config = GeneratorConfig(
        seed=seed,
        count=count,
        start_ms=int(time.time() * 1000),
        events_per_second=rate if rate > 0 else 5_000.0,
        messy=MessySpec(0.05),
        drift=drift,
        feedback=FeedbackSpec(fraction_labelled=0.3, delay_mean_s=2.0),
    )
    live = sys.stdout.isatty() if live is None else live
    with connect(settings) as rt:
        report = run_pipeline(rt, config, rate, view="live" if live else "plain")
        html = None if report_to is None else write_report(rt.settings, report_to)
    print(report.render())
    if html is not None:
        print(f"report: {html}")
    return 0 if not report.problems() else 1
