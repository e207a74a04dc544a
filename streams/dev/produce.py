"""``streamscore produce``: write generated events and feedback to Kafka at a steady rate.

The generator (:mod:`streams.dev.generator`) is pure; this module adds flags, pacing
and delivery confirmation. Events go to ``topic_events`` keyed by account id,
feedback to ``topic_feedback`` keyed by event id.

>>> cfg = generator_config(parser_args(["--count", "10", "--messy-fraction", "0.1"]))
>>> cfg.count, cfg.messy.fraction
(10, 0.1)
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streams.config import Settings
from streams.dev.generator import DriftSpec, FeedbackSpec, GeneratorConfig, Record, generate
from streams.dev.messy import MESSY_KINDS, MessySpec
from streams.errors import ConfigError
from streams.kafka import DeliveryTracker, flush, make_producer, produce
from streams.ops.progress import Progress


def add_generator_flags(p: argparse.ArgumentParser) -> None:
    """The generator's knobs as flags (shared by ``produce`` and benchmarks)."""
    p.add_argument("--count", type=int, default=10_000, help="events to generate")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start-ms", type=int, default=None, help="first event time (default: now)")
    p.add_argument("--accounts", type=int, default=5_000)
    p.add_argument("--messy-fraction", type=float, default=0.0, help="share of messy events")
    p.add_argument(
        "--messy-kinds", default=",".join(MESSY_KINDS), help=f"comma list of {MESSY_KINDS}"
    )
    p.add_argument("--drift-at", type=int, default=None, help="event index where drift starts")
    p.add_argument("--drift-kind", choices=["abrupt", "gradual"], default="abrupt")
    p.add_argument("--drift-width", type=int, default=0, help="gradual drift: ramp length")
    p.add_argument("--drift-amount-scale", type=float, default=3.0)
    p.add_argument("--drift-merchant-shift", type=float, default=0.5)
    p.add_argument("--drift-missing", default="", help="comma list of fields that go missing")
    p.add_argument("--drift-concept", action="store_true", help="change the fraud relation too")
    p.add_argument("--feedback", type=float, default=0.0, help="share of events labelled (0: off)")
    p.add_argument("--label-delay-s", type=float, default=60.0, help="mean label delay")
    p.add_argument("--feedback-duplicates", type=float, default=0.02)
    p.add_argument("--feedback-corrections", type=float, default=0.02)
    p.add_argument("--feedback-unknown", type=float, default=0.01)


def parser_args(argv: list[str]) -> argparse.Namespace:
    """Parse generator flags alone (for tests and doctests)."""
    p = argparse.ArgumentParser()
    add_generator_flags(p)
    return p.parse_args(argv)


def generator_config(args: argparse.Namespace, rate: float = 1_000.0) -> GeneratorConfig:
    """Build a GeneratorConfig from parsed generator flags."""
    try:
        return _generator_config(args, rate)
    except ValueError as exc:  # the specs check their own arguments
        raise ConfigError(f"invalid generator flags: {exc}") from exc


def _generator_config(args: argparse.Namespace, rate: float) -> GeneratorConfig:
    drift: tuple[DriftSpec, ...] = ()
    if args.drift_at is not None:
        missing = tuple(f for f in args.drift_missing.split(",") if f)
        drift = (
            DriftSpec(
                args.drift_at,
                args.drift_kind,
                width=args.drift_width,
                amount_scale=args.drift_amount_scale,
                merchant_shift=args.drift_merchant_shift,
                missing_features=missing,
                concept=args.drift_concept,
            ),
        )
    messy = None
    if args.messy_fraction > 0:
        messy = MessySpec(args.messy_fraction, tuple(args.messy_kinds.split(",")))
    feedback = None
    if args.feedback > 0:
        feedback = FeedbackSpec(
            fraction_labelled=args.feedback,
            delay_mean_s=args.label_delay_s,
            duplicate_fraction=args.feedback_duplicates,
            correction_fraction=args.feedback_corrections,
            unknown_fraction=args.feedback_unknown,
        )
    start = args.start_ms if args.start_ms is not None else int(time.time() * 1000)
    return GeneratorConfig(
        seed=args.seed,
        count=args.count,
        start_ms=start,
        accounts=args.accounts,
        events_per_second=rate if rate > 0 else 1_000.0,
        messy=messy,
        drift=drift,
        feedback=feedback,
    )


@dataclass
class ProduceSummary:
    """What was written, by stream and by messy kind."""

    events: int = 0
    feedback: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    expected_valid: int = 0
    seconds: float = 0.0

    def render(self) -> str:
        """A short human-readable report."""
        kinds = ", ".join(f"{k}={n}" for k, n in sorted(self.by_kind.items())) or "none"
        rate = self.events / self.seconds if self.seconds else 0.0
        return (
            f"produced {self.events} events ({self.expected_valid} valid by contract) and "
            f"{self.feedback} feedback records in {self.seconds:.1f}s ({rate:,.0f} events/s); "
            f"messy kinds: {kinds}"
        )


class Pacer:
    """Keeps a steady rate against the wall clock; rate 0 means unpaced."""

    def __init__(self, rate: float, wait: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.wait = wait
        self.t0 = time.monotonic()

    def pace(self, n_done: int) -> None:
        """Block until ``n_done`` events are due at the configured rate."""
        if self.rate > 0:
            ahead = n_done / self.rate - (time.monotonic() - self.t0)
            if ahead > 0.002:
                self.wait(ahead)  # rate limiting, not synchronisation


def write_records(
    settings: Settings,
    records: Iterable[Record],
    rate: float,
    throttle: Callable[[int], None] | None = None,
) -> ProduceSummary:
    """Produce ``records`` paced by events, confirm every delivery, return what was written.

    ``throttle(events_written)`` is called every 256 events; it may block (the demo
    uses it to keep the embedded broker from overflowing).
    """
    producer = make_producer(settings)
    tracker = DeliveryTracker()
    summary = ProduceSummary()
    pacer = Pacer(rate)
    t0 = time.monotonic()
    for rec in records:
        if rec.topic == "events":
            produce(producer, tracker, settings.topic_events, rec.key, rec.value)
            summary.events += 1
            summary.expected_valid += rec.valid
            if rec.messy_kind:
                summary.by_kind[rec.messy_kind] += 1
            if summary.events % 256 == 0:
                producer.poll(0)
                pacer.pace(summary.events)
                if throttle is not None:
                    throttle(summary.events)
        else:
            produce(producer, tracker, settings.topic_feedback, rec.key, rec.value)
            summary.feedback += 1
    flush(producer, tracker)
    summary.seconds = time.monotonic() - t0
    return summary


def run_produce(settings: Settings, config: GeneratorConfig, rate: float) -> ProduceSummary:
    """``streamscore produce``: on the embedded broker too (then it is gone on exit)."""
    from streams.kafka.runtime import connect

    bar = Progress("producing events", config.count)
    with connect(settings) as rt:
        summary = write_records(rt.settings, generate(config), rate, bar.update)
    bar.finish(summary.events)
    return summary
