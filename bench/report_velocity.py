"""BENCHMARKS.md sections of the velocity features: whether they earn their place (AUC),
and what their state costs the scorer in process."""

from __future__ import annotations

from typing import Any

from bench.report_table import heading, table


def velocity_auc(result: dict[str, Any]) -> list[str]:
    """AUC of one model trained with and without the velocity features."""
    lines = heading(
        "Velocity features: AUC with and without them",
        result,
        "The same LightGBM model (v1's parameters) trained on the earlier 80% of generated "
        "events, on the event's own features and on those plus the velocity features "
        "computed in stream order by the scorer's code; AUC on the later 20%. *takeovers*: "
        "account takeovers per event (bursts of payments, fraud following the account's "
        "recent behaviour); with none, behaviour does not matter.",
    )
    rows = [
        [r["takeovers"], f"{r['events']:,}", r["fraud_rate"], r["auc_without"], r["auc_with"]]
        for r in result["rows"]
    ]
    return lines + table(["takeovers", "events", "fraud rate", "AUC without", "AUC with"], rows)


def velocity_cost(result: dict[str, Any]) -> list[str]:
    """The velocity state's cost per event, its size per account and its restore rate."""
    lines = heading(
        "Velocity state: cost per event, bytes per account, restore",
        result,
        f"In process, over {result['events']:,} generated events ({result['accounts']:,} "
        f"accounts) in batches of {result['batch']:,} on 6 partitions. *features*: the "
        "windows alone; *scorer's state*: as the scorer runs it (undo, changelog record per "
        "touched account, transaction sent and committed; GC as the scorer runs it). "
        "*bytes*: an account's state as a snapshot holds it (msgpack); *compacted*: what "
        "the compacted changelog keeps per account (snapshot and latest deltas); *written "
        "per event*: changelog keys and values over events. *restore*: accounts rebuilt "
        "per second from the compacted changelog, the Kafka read not included.",
    )
    b = result["state_bytes"]
    row = [
        result["features_us_per_event"],
        result["scorer_state_us_per_event"],
        b["mean"],
        round(b["p99"]),
        f"{b['max']:,}",
        b["key_mean"],
        b["compacted_changelog_mean"],
        result["changelog_bytes_per_event"],
        f"{result['restore_accounts_per_s']:,}",
    ]
    header = ["features µs/event", "scorer's state µs/event", "bytes mean", "bytes p99",
              "bytes max", "key bytes", "compacted bytes mean", "written per event",
              "restore accounts/s"]  # fmt: skip
    return lines + table(header, [row])
