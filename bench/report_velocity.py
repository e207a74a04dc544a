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
        "per second from the compacted changelog, the Kafka read not included; "
        "*checkpoint save* and *from checkpoint*: a clean stop's save of every account to "
        "the local RocksDB checkpoints, and a restart's restore from them, accounts/s.",
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
        f"{result.get('checkpoint_save_accounts_per_s', float('nan')):,}",
        f"{result.get('checkpoint_restore_accounts_per_s', float('nan')):,}",
    ]
    header = ["features µs/event", "scorer's state µs/event", "bytes mean", "bytes p99",
              "bytes max", "key bytes", "compacted bytes mean", "written per event",
              "restore accounts/s", "checkpoint save accounts/s",
              "from checkpoint accounts/s"]  # fmt: skip
    lines += table(header, [row])
    if (bounded := result.get("bounded")) is not None:
        lines += [
            "",
            f"In memory, an account takes {result['memory_bytes_per_account']:,} B of "
            f"Python objects (tracemalloc, the restored state over its accounts). With at "
            f"most {bounded['max_resident']:,} accounts in memory (a fifth), the rest in "
            f"RocksDB: the scorer's state {bounded['scorer_state_us_per_event']} µs/event, "
            f"{bounded['moved_out_per_event']} accounts moved out and "
            f"{bounded['moved_in_per_event']} back per event.",
        ]
    return lines


def commit_cost(result: dict[str, Any]) -> list[str]:
    """The scorer's stages per batch at a fixed rate, by the partitions a commit writes."""
    lines = heading(
        "Commit cost by partitions written",
        result,
        f"One scorer (exactly-once) per row, its own topics of *partitions* partitions, "
        f"{result['rate']:,} events/s for {result['seconds']:g} s, after a run not reported "
        "(the broker's JIT warming up); the scorer's own "
        "`streamscore_stage_seconds` and `streamscore_batch_size` over that time: ms per "
        "batch. A transaction writes to the partitions its batch reached (`scores`, and the "
        "velocity state's changelog: as many partitions again), each gets a commit marker; "
        "a batch's scores go out after the commit before it.",
    )
    stages = ("validate", "features", "predict", "reasons", "records", "produce", "commit")
    rows = [
        [
            r["pipeline"],
            r["partitions"],
            r["round"] + 1,
            f"{r['batches']:,}",
            r["mean_batch"],
            *(f"{r['stage_ms'].get(s, 0.0):.2f}" for s in stages),
        ]
        for r in result["rows"]
    ]
    header = ["pipeline", "partitions", "round", "batches", "mean batch", *stages]
    return lines + table(header, rows)


def velocity_restore(result: dict[str, Any]) -> list[str]:
    """A restarted scorer's velocity restore: from its checkpoints, or from Kafka."""
    lines = heading(
        "Velocity state: restore after a restart",
        result,
        f"A real broker; one scorer (exactly-once) scored {result['events']:,} events on "
        f"{result['partitions']} partitions and stopped cleanly; the changelog then held "
        f"{result['changelog_records']:,} records (young: not compacted yet). Restarted per "
        "mode, alternating; from its log line: the accounts restored and the seconds it "
        "took, the median of the rounds. *rocksdb*: from its checkpoints, whose accounts "
        "stay in RocksDB and come back with their events (the memory bound is on by "
        "default); *none*: the changelog read from Kafka and replayed.",
    )
    rows = [
        [r["velocity_store"], f"{r['accounts']:,}", f"{r['from_checkpoints']:,}",
         f"{r['seconds']:.2f}", f"{r['accounts_per_s']:,}",
         ", ".join(f"{x:.2f}" for x in r["rounds_seconds"])]
        for r in result["rows"]
    ]  # fmt: skip
    header = ["velocity_store", "accounts", "from checkpoints", "seconds", "accounts/s",
              "rounds, s"]  # fmt: skip
    lines += table(header, rows)
    if memory := result.get("memory"):
        lines += ["", "The same events scored again on topics of their own, with at most "
                  "*max resident* accounts in memory (0: all), the rest in RocksDB; the "
                  "scorer's resident memory at the end and at its peak.", ""]  # fmt: skip
        mem_rows = [[f"{m['max_resident']:,}", f"{m['events_per_s']:,}", m["rss_mb"],
                     m["peak_rss_mb"]] for m in memory]  # fmt: skip
        lines += table(["max resident", "events/s", "RSS MiB", "peak RSS MiB"], mem_rows)
    return lines
