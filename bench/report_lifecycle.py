"""BENCHMARKS.md's model-lifecycle sections: what shadow challengers cost, and the loop
from concept change to a promoted retrained model."""

from __future__ import annotations

from typing import Any

from bench.report_table import heading, table


def shadow(result: dict[str, Any]) -> list[str]:
    """Throughput and latency of the scorer with 0, 1, 2... shadow challengers."""
    tp = {r["challengers"]: r for r in result["throughput"]}
    lat = {r["challengers"]: r for r in result["latency"]}
    base = lat.get(0, {}).get("timestamp_ms", {}).get("p99")
    lines = heading(
        "Shadow challengers",
        result,
        "Each challenger (a copy of the champion: as costly as a retrained one) scores every "
        "event in the champion's micro-batch and adds a `scores.shadow` record per event to "
        "its transaction. Throughput: the scorer in-process, exactly-once, on a pre-filled "
        "topic (median of the rounds). Latency: the scorer as its own process at a fixed "
        "produce rate; Kafka timestamp of the score minus the event's.",
    )
    rows = []
    for n in sorted(tp):
        p99 = lat.get(n, {}).get("timestamp_ms", {}).get("p99")
        added = f"{p99 - base:+.1f}" if p99 is not None and base is not None else "-"
        rows.append(
            [
                n,
                f"{tp[n]['events_per_s']:,.0f}",
                f"{tp[n]['ratio_to_none']:.2f}",
                lat.get(n, {}).get("timestamp_ms", {}).get("p50", "-"),
                p99 if p99 is not None else "-",
                added,
            ]
        )
    rate = next(iter(lat.values()), {}).get("rate", "?")
    header = [
        "challengers",
        "events/s",
        "of none",
        f"p50 ms at {rate}/s",
        f"p99 ms at {rate}/s",
        "p99 added ms",
    ]
    return lines + table(header, rows)
