"""``streamscore report``: one self-contained HTML file of a run, from its topics.

Throughput, latency and lag over time, the score's and each feature's distribution
against the model's reference with its PSI, online AUC per model version, drift alerts
on a timeline and dead letters by reason: inline SVG, no script, nothing fetched, so
the file opens anywhere and can be mailed. ``docs/report.md`` says how to read each chart.

It reads every record of ``events``, ``scores``, the DLQs, ``drift.alerts`` and
``labelled`` (``--since``: only those from then on, by Kafka timestamp; and, with
``--metrics``, the processors' ``/metrics`` once). On the
embedded broker the topics live only as long as the process that started it:
``streamscore demo`` writes its report itself before it stops.

>>> write_report(settings, Path("report.html"))          # doctest: +SKIP
PosixPath('/work/report.html')
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from streams.model.account_window import DAY_MS, HOUR_MS, MINUTE_MS

if TYPE_CHECKING:
    from streams.config import Settings
    from streams.views.report_data import RunData
    from streams.views.report_page import Reference


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--metrics``, ``--since`` and ``--reference``."""
    group = parser.add_argument_group("report")
    group.add_argument(
        "--out", type=Path, default=Path("report.html"), help="the file to write (report.html)"
    )
    group.add_argument(
        "--metrics",
        default="",
        metavar="HOST:PORT,...",
        help="also list what these /metrics endpoints export now (the scorer's, the joiner's)",
    )
    group.add_argument(
        "--since",
        type=_since_flag,
        default=None,
        metavar="WHEN",
        help="only records from then on: a time back from now (90s, 30m, 2h, 7d) or an ISO "
        "8601 time (UTC unless it says); default: every record the topics hold",
    )
    group.add_argument(
        "--reference",
        default=None,
        metavar="VERSION",
        help="the model whose reference distributions to compare with (default: the version "
        "that made most of the run's scores)",
    )


_UNITS = {"s": 1_000, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}


def since_ms(text: str, now_ms: int) -> int:
    """Epoch milliseconds of ``--since``: a time back from ``now_ms`` (``90s``, ``30m``,
    ``2h``, ``7d``) or an ISO 8601 time, UTC unless it names its offset.

    >>> since_ms("30m", 3_600_000), since_ms("1970-01-01T01:00", 0)
    (1800000, 3600000)
    >>> since_ms("yesterday", 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 'yesterday': give a time back from now (90s, 30m, ...
    """
    amount, unit = text[:-1], text[-1:]
    if unit in _UNITS and amount.replace(".", "", 1).isdigit():
        return now_ms - int(float(amount) * _UNITS[unit])
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a time back from now (90s, 30m, 2h, 7d) or an ISO 8601 time "
            "(2026-12-06T09:00)"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def _since_flag(text: str) -> int:
    return since_ms(text, time.time_ns() // 1_000_000)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Write the report and print its path."""
    from streams.errors import ConfigError
    from streams.views.scrape import parse_targets

    if settings.is_embedded:
        raise ConfigError(
            "report reads a run's topics, and an embedded broker's are gone with the process "
            "that ran it: point it at your Kafka (--bootstrap-servers host:9092), or run "
            "`streamscore demo`, which writes its own report"
        )
    out = write_report(settings, args.out, parse_targets(args.metrics), args.reference, args.since)
    print(out)
    return 0


def write_report(
    settings: Settings,
    out: Path,
    metrics: Sequence[str] = (),
    reference: str | None = None,
    since_ms: int | None = None,
) -> Path:
    """Read the run from ``settings``' topics and write the report to ``out`` (atomically);
    its absolute path. ``metrics``: ``host:port`` targets to list; ``reference``: the
    model version to compare with (default: the one that made most scores); ``since_ms``:
    only the records from then on (Kafka timestamps; None: every record)."""
    from streams.model.features import FEATURE_NAMES
    from streams.monitoring.drift import DriftConfig
    from streams.views.report_data import read_run
    from streams.views.report_page import render
    from streams.views.scrape import fetch_all

    data = read_run(settings, FEATURE_NAMES, since_ms)
    ref = _reference(settings.model_dir, data, reference)
    scrapes = fetch_all(metrics) if metrics else None
    page = render(data, ref, scrapes, DriftConfig.from_settings(settings))
    return _write_atomic(out, page)


def _reference(model_dir: Path, data: RunData, wanted: str | None) -> Reference | None:
    """``wanted`` (ModelError when it cannot be read), else the version with most
    non-fallback scores whose manifest reads, else the champion; None without any."""
    from collections import Counter

    from streams.errors import ModelError
    from streams.model.registry import champion, manifest_of
    from streams.views.report_page import Reference

    if wanted:
        manifest = manifest_of(model_dir, wanted)
        if manifest is None:
            raise ModelError(
                f"no readable manifest for model {wanted!r} in {model_dir}: "
                "`streamscore models list` shows the versions (--model-dir to look elsewhere)"
            )
        return Reference(wanted, manifest)
    s = data.scores
    made = Counter(v for v, fell in zip(s.version, s.fallback, strict=True) if not fell)
    for version in [*(v for v, _ in made.most_common()), champion(model_dir)]:
        found = manifest_of(model_dir, version) if version else None
        if version and found is not None:
            return Reference(version, found)
    return None


def _write_atomic(out: Path, text: str) -> Path:
    """``text`` to ``out`` through a temporary file beside it: a reader never sees half."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
