"""The report as one HTML page: a section per chart, each with how to read it.

Self-contained: inline SVG and one ``<style>``, system fonts, no script and nothing
fetched. Times on the x axes are seconds since the run's first record (its wall-clock
time is in the header).

>>> page = render(RunData(), None, None)
>>> page.startswith("<!DOCTYPE html>"), page.count('data-empty="true"') == page.count("<svg")
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from streams.config import Settings
from streams.monitoring.drift import DriftConfig
from streams.views.report_data import RunData
from streams.views.report_distributions import Distribution, distributions
from streams.views.report_series import (
    Buckets,
    auc_by_version,
    counts_by,
    lag,
    percentiles,
    rate,
)
from streams.views.report_svg import Frame, fmt, line_chart, no_data
from streams.views.report_svg_categories import grouped_bars, hbars, lanes
from streams.views.scrape import Scrape

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 max-width:920px;margin:24px auto;padding:0 16px;color:#222;background:#fff}
h1{font-size:24px;margin:0 0 6px} h2{font-size:18px;margin:0 0 4px}
section{margin:30px 0} p.how{color:#555;font-size:13px;margin:0 0 8px;max-width:860px}
svg.plot{display:block;max-width:100%;height:auto;font-family:inherit}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{padding:2px 10px;text-align:left;border-bottom:1px solid #eee} td.num{text-align:right}
.over{color:#b00020;font-weight:600}
"""

SMALL = Frame(height=190)
"""A feature's chart: sixteen of them, one under the other."""


@dataclass(frozen=True)
class Reference:
    """The model whose reference the live distributions are drawn against."""

    version: str
    manifest: dict[str, Any]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _section(sid: str, heading: str, how: str, body: str) -> str:
    return (
        f'<section id="{sid}"><h2>{escape(heading)}</h2>'
        f'<p class="how">{escape(how)}</p>\n{body}\n</section>'
    )


def _header(run: RunData, ref: Reference | None, generated: datetime) -> str:
    span = run.span()
    when = (
        f"from {_utc(span[0])} to {_utc(span[1])} ({(span[1] - span[0]) / 1000:,.1f} s)"
        if span
        else "no records"
    )
    rows = [
        ("events", len(run.events)),
        ("scores", len(run.scores.scored_at)),
        ("dead letters (events.dlq)", len(run.dead)),
        ("dead letters (feedback.dlq)", len(run.feedback_dead)),
        ("labelled events", len(run.labels)),
        ("drift alerts", len(run.alerts)),
    ]
    table = "".join(f'<tr><th>{k}</th><td class="num">{v:,}</td></tr>' for k, v in rows)
    model = f"model {escape(ref.version)}'s reference" if ref else "no model reference found"
    return (
        f"<header><h1>streamscore report</h1><p>The run {when}; distributions against "
        f"{model}. Written {generated.strftime('%Y-%m-%d %H:%M:%S UTC')}.</p>"
        f"<table>{table}</table></header>"
    )


def _over_time(run: RunData, b: Buckets | None) -> list[str]:
    """Throughput, latency and lag."""
    if b is None:
        return [no_data(p, t) for p, t in _TIMED]
    s = run.scores
    flow = [
        rate(b, [t for t, _ in run.events], "events/s"),
        rate(b, s.scored_at, "scores/s"),
        rate(b, [t for t, _, _ in run.dead], "dead letters/s"),
    ]
    done = list(zip(s.scored_at, s.partition, strict=True)) + [(t, p) for t, p, _ in run.dead]
    kw: dict[str, Any] = {"x_max": b.end_s}
    return [
        line_chart("throughput", "Throughput", flow, y_label="records per second", **kw),
        line_chart(
            "latency",
            "End-to-end latency",
            percentiles(b, s.scored_at, s.latency_ms),
            y_label="milliseconds",
            **kw,
        ),
        line_chart("lag", "Scorer lag", lag(b, run.events, done), y_label="events", **kw),
    ]


_TIMED = (("throughput", "Throughput"), ("latency", "End-to-end latency"), ("lag", "Scorer lag"))


def _auc(run: RunData, start: int | None) -> str:
    title = "Online AUC per model version"
    labels = list(run.labels.values())
    if start is None or not labels:
        return no_data("auc", title)
    end = max(x.score_time for x in labels)
    b = Buckets.over(start, end, most=max(1, min(20, len(labels) // 200)))
    rows = [(x.score_time, x.label, x.score, x.version) for x in labels]
    series = auc_by_version(b, rows)
    return line_chart(
        "auc", title, series, x_max=b.end_s, y_label="ROC AUC", y_span=(0.5, 1.0), marks=True
    )


def _alerts(run: RunData, start: int | None) -> str:
    title = "Drift alerts"
    if start is None or not run.alerts:
        return no_data("drift-alerts", title)
    rows: dict[str, list[tuple[float, str]]] = {}
    for a in run.alerts:
        lane = f"{a.signal} · {a.feature or 'model'}"
        stat = f"{a.statistic_name} {fmt(a.statistic)}, threshold {fmt(a.threshold)}"
        tip = f"{lane}: {stat} ({a.model_version})"
        rows.setdefault(lane, []).append(((a.at - start) / 1000, tip))
    end = max(a.at for a in run.alerts)
    return lanes("drift-alerts", title, sorted(rows.items()), x_max=(end - start) / 1000)


def _feature_chart(d: Distribution, drift: DriftConfig) -> str:
    over = " (over the threshold)" if d.psi > drift.psi_threshold else ""
    if d.name in drift.exclude:
        over = " (not watched: it follows the clock)"
    miss = "" if math.isnan(d.missing_rate) else f", missing {d.missing_rate:.1%}"
    title = f"{d.name}: PSI {fmt(d.psi)}{over}{miss} (reference {d.reference_missing_rate:.1%})"
    plot = "score-distribution" if d.name == "score" else f"feature-{d.name}"
    frame = SMALL if d.name != "score" else Frame()
    groups = [("reference", d.reference), ("live", d.live)]
    return grouped_bars(plot, title, d.bins, groups, empty_note="no data: no live values", f=frame)


def _distributions(
    run: RunData, ref: Reference | None, drift: DriftConfig
) -> tuple[str, list[str]]:
    """The score's chart, then the PSI overview and each feature's chart, over the
    reference version's scores (not those of the fallback rules)."""
    if ref is None:
        why = "no data: no model reference"
        return no_data("score-distribution", "Score distribution", why), [
            no_data("feature-psi", "PSI per feature", why)
        ]
    s = run.scores
    mine = [i for i, v in enumerate(s.version) if v == ref.version]
    rows = s.rows.get(ref.version, [])  # in the order of ``mine``
    kept = [(i, rows[j]) for j, i in enumerate(mine) if not s.fallback[i]]
    dists = distributions(
        ref.manifest,
        [row for _, row in kept],
        [s.score[i] for i, _ in kept],
        [s.decision[i] for i, _ in kept],
    )
    score, features = dists[-1], dists[:-1]
    ranked = sorted((d for d in features if not math.isnan(d.psi)), key=lambda d: -d.psi)
    psi = [
        (f"{d.name} (not watched)" if d.name in drift.exclude else d.name, d.psi) for d in ranked
    ]
    charts = [_feature_chart(d, drift) for d in features]
    return _feature_chart(score, drift), [
        hbars("feature-psi", "PSI per feature", psi, x_label="PSI"),
        *charts,
    ]


def _dead_letters(run: RunData) -> str:
    reasons = counts_by([r for _, _, r in run.dead])
    reasons += counts_by([f"feedback: {r}" for _, _, r in run.feedback_dead])
    return hbars("dead-letters", "Dead letters by reason", [(k, float(v)) for k, v in reasons])


def _metric_rows(sc: Scrape) -> list[str]:
    target = escape(sc.target)
    if not sc.up:
        return [f"<tr><th>{target}</th><td>down: {escape(sc.error or '')}</td></tr>"]
    rows = []
    for x in sc.samples:
        if not x.name.endswith("_bucket"):
            labels = ",".join(f"{k}={v}" for k, v in sorted(x.labels.items()))
            name = escape(f"{x.name}{{{labels}}}" if labels else x.name)
            value = f'<td class="num">{fmt(x.value)}</td>'
            rows.append(f"<tr><th>{target}</th><td>{name}</td>{value}</tr>")
    return rows


def _metrics(scrapes: Sequence[Scrape]) -> str:
    """Every sample each target exported when the report was written (no histogram
    buckets), or why a target could not be read."""
    if not scrapes:
        return ""
    rows = "".join(row for sc in scrapes for row in _metric_rows(sc))
    how = "The processors' /metrics endpoints, read when the report was written."
    return _section("metrics", "Metrics at the end", how, f"<table>{rows}</table>")


HOW = {
    "throughput": "Records per second in each time bucket, by their timestamps: events as "
    "produced, scores as written (scored_at), dead letters as written. Scores and dead "
    "letters together follow events when the scorer keeps up.",
    "latency": "Per bucket of scoring time, the median (p50) and 99th percentile (p99) of "
    "scored_at minus the event record's Kafka timestamp: time from the event's write to its "
    "score's. A rising p99 with flat p50 is queueing in bursts; both rising is lag.",
    "lag": "Events written but not yet scored or dead-lettered at each bucket's end, in total "
    "and per partition of the events topic. It returns to zero when the scorer catches up.",
    "score": "Share of the reference model's scores in each of its reference score bins "
    "(deciles of the training scores): reference against this run. PSI above "
    "{threshold:g} is drift (the drift monitor's threshold); fallback scores are left out.",
    "auc": "ROC AUC of each model version's scores against their labels (the latest label of "
    "each event in labelled), per bucket of scoring time; a bucket needs 30 labels of both "
    "classes, else it is a gap. 0.5 is chance.",
    "alerts": "Each drift.alerts record at the time it was written, a row per signal and "
    "feature (model: the score or concept signals). Hover a mark for its statistic.",
    "dead": "Dead letters by their reason header (__streamscore.errors.reason): events.dlq, "
    "then feedback.dlq. A reason that grows points at the producer upstream.",
    "features": "Each input feature of the reference model: share of values per reference bin "
    "(numeric: the training deciles; categorical: the levels), reference against this run, "
    "with PSI over the whole run (above {threshold:g}: drift), sorted overview first. Missing "
    "values are not in the bars; their rate is in the title.",
}


def render(
    run: RunData,
    ref: Reference | None,
    scrapes: Sequence[Scrape] | None,
    drift: DriftConfig | None = None,
    generated: datetime | None = None,
) -> str:
    """The whole page; ``drift``: the monitor's PSI threshold and the features it leaves
    out (default: the default settings')."""
    drift = drift or DriftConfig.from_settings(Settings())
    threshold = drift.psi_threshold
    span = run.span()
    start = span[0] if span else None
    b = Buckets.over(*span) if span else None
    throughput, latency, lagged = _over_time(run, b)
    score, features = _distributions(run, ref, drift)
    sections = [
        _section("throughput", "Throughput", HOW["throughput"], throughput),
        _section("latency", "Latency", HOW["latency"], latency),
        _section("lag", "Lag", HOW["lag"], lagged),
        _section(
            "scores",
            "Scores against the reference",
            HOW["score"].format(threshold=threshold),
            score,
        ),
        _section("auc", "Online AUC", HOW["auc"], _auc(run, start)),
        _section("drift-alerts", "Drift alerts", HOW["alerts"], _alerts(run, start)),
        _section("dead-letters", "Dead letters", HOW["dead"], _dead_letters(run)),
        _section(
            "features",
            "Features against the reference",
            HOW["features"].format(threshold=threshold),
            "\n".join(features),
        ),
        _metrics(scrapes or ()),
    ]
    head = _header(run, ref, generated or datetime.now(UTC))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>streamscore report</title><style>{STYLE}</style></head>\n<body>\n"
        + head
        + "\n"
        + "\n".join(x for x in sections if x)
        + "\n</body></html>\n"
    )
