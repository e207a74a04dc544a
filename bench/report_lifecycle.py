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
        "produce rate, after warm-up runs until the broker's JIT settled; Kafka timestamp "
        "of the score minus the event's; interleaved runs, the median run's figures.",
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
                ", ".join(f"{x:g}" for x in lat.get(n, {}).get("rounds_p99_ms", [])) or "-",
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
        "p99 of each run",
        "p99 added ms",
    ]
    return lines + table(header, rows)


def joiner_shadow(result: dict[str, Any]) -> list[str]:
    """µs per scores.shadow record in the joiner's pure core."""
    lines = heading(
        "Shadow scores in the joiner",
        result,
        "The joiner's pure core (the processor over a dict store: no RocksDB, no Kafka) "
        "with and without a `scores.shadow` record per event; its cost is the difference "
        "(median of the rounds): parsing, the larger entry, its label's quality update and "
        "the estimate.",
    )
    rows = [
        [
            f"{r['labelled']:.0%}",
            f"{r['us_per_event_without']:.1f}",
            f"{r['us_per_event_with']:.1f}",
            f"{r['us_per_shadow_record']:.1f}",
        ]
        for r in result["rows"]
    ]
    header = ["events labelled", "µs/event without", "µs/event with", "µs per shadow record"]
    return lines + table(header, rows)


def lifecycle(result: dict[str, Any]) -> list[str]:
    """A concept change to a promoted retrained model, on the real broker."""
    hold = result["post_change_holdout"]
    before = result["auc_v1_before_change"]
    new = result["new_version"]
    gap = before["auc"] - hold["auc_new"]
    met = "met" if gap <= 0.02 else "**not met**"
    lines = heading(
        "Model loop: concept change, retrain, shadow, gate",
        result,
        f"{result['events']:,} events at {result['rate']:,.0f}/s with a concept change; the "
        "scorer, the joiner and `streamscore models autopilot` as processes; the autopilot "
        f"retrained {new} from `labelled` and entered it as a shadow; the gate judged it "
        "on the labelled events after its training window (the post-change holdout). Goal: "
        f"the retrained AUC within 0.02 of v1's before the change: {met} "
        f"({hold['auc_new']:.4f} against {before['auc']:.4f}, {gap:+.4f}).",
    )
    alert, shadow = result["change_to_alert"], result["alert_to_shadow"]
    bayes = hold.get("auc_true_probability")
    rows = [
        ["v1, before the change", f"{before['auc']:.4f}", f"{before['labels']:,}"],
        ["v1, post-change holdout", f"{hold['auc_v1']:.4f}", f"{hold['labels']:,}"],
        [
            f"{new} (retrained), post-change holdout",
            f"{hold['auc_new']:.4f}",
            f"{hold['labels']:,}",
        ],
    ]
    if bayes is not None:
        share = (hold["auc_new"] - hold["auc_v1"]) / (bayes - hold["auc_v1"])
        lines[-2] += (
            f" On these events the generator's true fraud probabilities score {bayes:.4f}, "
            f"{before['auc'] - bayes:.4f} below v1 before the change: the changed concept is "
            f"harder to separate, and the retrained model closes {share:.0%} of the gap from "
            "v1 to them."
        )
        rows.append(
            ["the true probabilities, post-change holdout", f"{bayes:.4f}", f"{hold['labels']:,}"]
        )
    out = lines + table(["model, labelled events", "AUC", "labels"], rows) + [""]
    timing = [
        ["concept change → concept alert", f"{alert['events']:,}", f"{alert['seconds']:.1f}"],
        [f"concept alert → {new} in shadow", f"{shadow['events']:,}", f"{shadow['seconds']:.1f}"],
    ]
    out += [*table(["span", "events scored", "seconds"], timing), ""]
    if "alert_to_entered_seconds" in result:
        wait = result["alert_to_entered_seconds"]
        load = result["entered_to_first_shadow_seconds"]
        labels = result["retrain"]["label_counts"]["events"]
        out.append(
            f"Of the alert → shadow span, {wait:.1f} s went to waiting for {labels:,} labelled "
            f"events after the detection and retraining on them, {load:.1f} s to the scorer "
            "loading (and compiling) the new version."
        )
        out.append("")
    ev = result["gate"]["evidence"] or {}
    if ev:
        out.append(
            f"Gate: {'passed' if ev['passed'] else 'refused'} on {ev['n']:,} labels "
            f"({ev['positives']:,} positive): AUC {ev['auc_challenger']:.4f} against "
            f"{ev['auc_champion']:.4f}, difference {ev['diff']:+.4f}, "
            f"{ev['confidence']:.0%} interval [{ev['ci_low']:+.4f}, {ev['ci_high']:+.4f}]."
        )
    return out
