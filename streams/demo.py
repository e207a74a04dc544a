"""``streamscore demo``: the whole pipeline on the embedded broker, with proof nothing was lost.

It starts librdkafka's mock cluster in-process, runs the scorer in a thread,
produces generated events (5% messy) paced to what the scorer consumes (the mock
silently drops data beyond about 5 MB per partition), then reports counts by
outcome and checks: every event came out exactly once as a score or a dead letter,
and no partition's low watermark moved (nothing was dropped).

On the embedded broker the scorer runs at-least-once: the mock's transactions are
not real. Exactly-once is shown by the real-broker tests.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.errors import StreamscoreError
from streams.generator import FeedbackSpec, GeneratorConfig, generate
from streams.kafka import watermarks
from streams.messy import MessySpec
from streams.produce import ProduceSummary, write_records
from streams.runtime import Runtime, connect
from streams.scorer import ScorerStats, build_scorer

log = logging.getLogger(__name__)

IN_FLIGHT_LIMIT = 4_000
"""Most events the producer may be ahead of the scorer (keeps the mock under its cap)."""


@dataclass
class DemoReport:
    """Everything the demo prints, and the checks it makes."""

    produced: ProduceSummary
    scorer: ScorerStats
    out_counts: dict[str, int]
    dropped: dict[str, int]
    seconds: float

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
        return out

    def render(self) -> str:
        """The demo's summary for a person."""
        s = self.scorer
        rate = s.consumed / self.seconds if self.seconds else 0.0
        lines = [
            "streamscore demo: embedded broker (librdkafka mock cluster), at-least-once",
            f"  {self.produced.render()}",
            f"  scorer: consumed {s.consumed} in {s.batches} batches ({rate:,.0f} events/s), "
            f"scored {s.scored} (fallback {s.fallback}), dead-lettered "
            f"{sum(s.dead_letters.values())}",
            "  decisions: " + ", ".join(f"{k}={v}" for k, v in sorted(s.decisions.items())),
            "  dead letters by reason: "
            + (", ".join(f"{k}={v}" for k, v in sorted(s.dead_letters.items())) or "none"),
            f"  topics: scores={self.out_counts['scores']} events.dlq={self.out_counts['dlq']}, "
            f"dropped by broker: {sum(self.dropped.values())}",
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
    }
    marks = {k: watermarks(settings, t) for k, t in named.items()}
    counts = {k: sum(high - low for low, high in m.values()) for k, m in marks.items()}
    dropped = {named[k]: sum(low for low, _ in m.values()) for k, m in marks.items()}
    return counts, dropped


def _drain(stats: ScorerStats, target: int, thread: threading.Thread, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while stats.consumed < target and thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.05)  # waits on the scorer thread, waking to re-check the condition


def run_pipeline(rt: Runtime, config: GeneratorConfig, rate: float) -> DemoReport:
    """Produce ``config``'s events through a scorer thread and report; used by demo and tests."""
    scorer = build_scorer(rt.settings, CollectorRegistry(), exactly_once=not rt.on_embedded)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            scorer.run(stop)
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="scorer", daemon=True)
    t0 = time.monotonic()
    thread.start()

    def throttle(written: int) -> None:
        while written - scorer.stats.consumed > IN_FLIGHT_LIMIT and thread.is_alive():
            thread.join(0.01)

    produced = write_records(rt.settings, generate(config), rate, throttle)
    _drain(scorer.stats, produced.events, thread, deadline_s=120)
    stop.set()
    thread.join(30)
    if errors:
        raise StreamscoreError(f"scorer failed: {errors[0]}") from errors[0]
    counts, dropped = _topic_counts(rt.settings)
    return DemoReport(produced, scorer.stats, counts, dropped, time.monotonic() - t0)


def run_demo(settings: Settings, count: int, rate: float, seed: int) -> int:
    """``streamscore demo``; exit 0 when every check passes."""
    config = GeneratorConfig(
        seed=seed,
        count=count,
        start_ms=int(time.time() * 1000),
        events_per_second=rate if rate > 0 else 5_000.0,
        messy=MessySpec(0.05),
        feedback=FeedbackSpec(fraction_labelled=0.3, delay_mean_s=2.0),
    )
    with connect(settings) as rt:
        report = run_pipeline(rt, config, rate)
    print(report.render())
    return 0 if not report.problems() else 1
