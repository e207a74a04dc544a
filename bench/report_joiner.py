"""BENCHMARKS.md's feedback-path sections: joiner catch-up, recovery, the whole system."""

from __future__ import annotations

from typing import Any

from bench.report_table import heading, table


def joiner(result: dict[str, Any]) -> list[str]:
    """Catch-up throughput against the baseline and the limit; bytes per entry."""
    s = result["summary"]
    lines = heading(
        "Joiner catch-up",
        result,
        f"{result['events']:,} events prefilled (5% invalid, 30% labelled), scored; each "
        "joiner then takes `scores` and `feedback` from their start (RocksDB, every key "
        "kept). Records/s from its commits of input offsets, from the first past 10% of the "
        "input to the last before 90% (the baseline: for its first 90 s or so past 10%); "
        "the limit is a bare confluent-kafka consumer of the same topics. Bytes per entry: "
        "its RocksDB directories at rest over the entries in them. "
        f"Median: **{s['joiner_records_per_s']:,} records/s**, "
        f"{s['over_baseline']} times the per-record baseline, {s['of_limit']:.2f} of the limit.",
    )
    rows = []
    for r in result["runs"]:
        state = r.get("state") or {}
        per = state.get("bytes_per_entry")
        rows.append(
            [
                r["kind"],
                r["round"] + 1,
                f"{r.get('timed_records', r.get('records', 0)):,}",
                f"{r['records_per_s']:,}",
                f"{state['entries']:,}" if state else "-",
                f"{per:.0f}" if per else "-",
            ]
        )
    header = ["run", "round", "records timed", "records/s", "entries at rest", "bytes/entry"]
    return lines + table(header, rows)


def recovery(result: dict[str, Any]) -> list[str]:
    """Restore after SIGKILL, with the state kept and with it lost."""
    state = result["state_at_rest"]
    lines = heading(
        "Joiner recovery",
        result,
        f"{state['entries']:,} entries at rest ({state['bytes'] / 2**20:.0f} MiB, "
        f"{state['bytes_per_entry']:.0f} bytes/entry); the changelog holds "
        f"{result['changelog_records']:,} records. The joiner is SIGKILLed while labels "
        "flow and started again at once; the stall is the longest gap in `labelled` from "
        f"the kill on (the group's session timeout, {result['session_timeout_ms'] / 1000:g} "
        "s, included).",
    )
    rows = []
    for name in ("state_kept", "state_lost"):
        r = result[name]
        rows.append(
            [
                name.replace("_", " "),
                f"{r['changelog_records']:,}",
                f"{r['seconds']:.1f}",
                f"{r['entries_per_s']:,}" if r.get("entries_per_s") else "-",
                f"{r['stall_s']:.1f}",
            ]
        )
    header = ["restart", "changelog records restored", "restore s", "entries/s", "stall s"]
    return lines + table(header, rows)


def system(result: dict[str, Any]) -> list[str]:
    """The whole system at a fixed rate, and the steps up."""
    m = result["main"]
    lines = heading(
        "Whole system: scorer, joiner and broker on one machine",
        result,
        f"{m['rate']:,} events/s for {m['seconds'] / 60:g} minutes (5% invalid, 30% "
        "labelled ~30 s later); lags by committed offsets every second (seconds: records "
        "over the input rate); join latency from the feedback's append to its `labelled` "
        "record reaching a read_committed reader. Highest rate sustained: "
        f"**{result['highest_sustained']:,} events/s**."
        if result["highest_sustained"]
        else "No rate sustained.",
    )
    rows = [_system_row(r) for r in [m, *result["steps"]]]
    header = [
        "events/s asked",
        "reached",
        "scorer lag p99",
        "joiner lag p99",
        "joiner lag max",
        "join latency p50 / p99 ms",
        "sustained",
    ]
    lines += table(header, rows)
    check = m.get("check")
    if check:
        lines += [
            "",
            f"After the {m['seconds'] / 60:g}-minute run: {check['labels_expected']:,} "
            f"valid feedback of scored events, {check['labelled_records']:,} labelled "
            f"records, **{check['missing']} missing**, {check['unexpected']} unexpected.",
        ]
    if m.get("rss"):
        lines += [
            "",
            "RSS (MiB): "
            + "; ".join(
                f"{name} peak {r['peak_mb']:.0f}, minute 2 {r['minute2_mb']:.0f}, last minute "
                f"{r['last_minute_mb']:.0f} ({r['growth_pct']:+.1f}%)"
                for name, r in m["rss"].items()
            ),
        ]
    return lines


def _system_row(r: dict[str, Any]) -> list[Any]:
    lat, lag = r["join_latency_ms"], r["lag"]
    return [
        f"{r['rate']:,}",
        f"{r['events_per_s']:,}",
        f"{lag['scorer']['p99_records']:,.0f} ({lag['scorer']['p99_s']:.2f} s)",
        f"{lag['joiner']['p99_records']:,.0f} ({lag['joiner']['p99_s']:.2f} s)",
        f"{lag['joiner']['max_records']:,}",
        f"{lat['p50']:.0f} / {lat['p99']:.0f}",
        "yes" if r["sustained"] else "no",
    ]
