"""BENCHMARKS.md, rendered from every result file in ``bench/results/``.

Each benchmark writes its own JSON and calls :func:`write_report`, so the page always
shows the latest run of each, with the command that produced it.
"""

from __future__ import annotations

from typing import Any

import orjson

from bench.harness import RESULTS, ROOT
from bench.report_joiner import joiner, recovery, system
from bench.report_lifecycle import joiner_shadow, lifecycle, shadow
from bench.report_online import online
from bench.report_reliability import burst, chaos, junk_throughput, restart_pause
from bench.report_table import heading as _heading
from bench.report_table import table as _table
from bench.report_velocity import commit_cost, velocity_auc, velocity_cost, velocity_restore


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return orjson.loads(path.read_bytes()) if path.exists() else None


_THROUGHPUT_COLUMNS = ["pipeline", "events", "seconds", "events/s", "streamscore is x",
                       "each run, events/s", "CPU µs/event: process", "broker"]  # fmt: skip


def throughput(result: dict[str, Any]) -> list[str]:
    """The throughput section."""
    rows = result["rows"]
    base = next((r["events_per_s"] for r in rows if r["pipeline"] == "streamscore"), None)
    lines = _heading(
        result.get("title", "Throughput"),
        result,
        "One process per pipeline, the same pre-filled topic (5% invalid, 6 partitions), "
        "same model, same broker; first poll to the last input offset committed. "
        "streamscore and quix run exactly-once; faust at-least-once (its exactly_once "
        "mode commits offsets in transactions but not the records it sends); naive and "
        "passthrough commit after each flush. The slow pipelines run on a prefix of the "
        "topic: rates compare, totals do not. The fast ones ran several times, rounds "
        "interleaved; the table has the median run and every run's rate. *CPU µs per "
        "event*: the CPU time (user + system, all threads) the pipeline's process and the "
        "broker used during the run, per event, median of the runs: a steadier measure of "
        "cost than the rate, which swings with what else the two cores are doing.",
    )
    lines += _table(
        _THROUGHPUT_COLUMNS,
        [
            [
                r["pipeline"],
                f"{r['events']:,}",
                f"{r['seconds']:.1f}",
                f"{r['events_per_s']:,.0f}",
                f"{base / r['events_per_s']:.2f}" if base else "-",
                ", ".join(f"{v:,.0f}" for v in r.get("rounds_events_per_s", [])) or "-",
                *(_cpu(r, k) for k in ("process", "broker")),
            ]
            for r in rows
        ],
    )
    stages: dict[str, dict[str, float]] = result.get("stages", {})
    if stages:
        names = list(dict.fromkeys(k for by_stage in stages.values() for k in by_stage))
        lines += [
            "",
            "Where the scorer's time goes in that run, µs per event (its own "
            "`streamscore_stage_seconds`). `validate` includes parsing; `commit` is sending "
            "the offsets and committing the transaction, in the committer thread (under a "
            "backlog, while the next batch is scored); `commit_wait` is what the scoring "
            "loop waited for it.",
            "",
        ]
        lines += _table(
            ["pipeline", *names],
            [[p, *(f"{v[n]:.2f}" if n in v else "-" for n in names)] for p, v in stages.items()],
        )
    return lines


def _cpu(row: dict[str, Any], key: str) -> str:
    value = row.get("cpu_us_per_event", {}).get(key)
    return "-" if value is None else f"{value:.1f}"


def latency(result: dict[str, Any]) -> list[str]:
    """The latency section (or another, titled in the result, of other pipelines)."""
    lines = _heading(
        result.get("title", "Latency"),
        result,
        "Fixed produce rate; *timestamp* = score's Kafka timestamp minus the event's; "
        "*visible* = received by a read_committed consumer minus the event's timestamp. ms. "
        "*limit*: the scorer's loop and Kafka layer with scoring replaced by a copy "
        "(Kafka and the delivery guarantee alone). *broker JIT*: the share of a core the "
        "broker's JIT compiler threads used during the run.",
    )
    lines += _warmup(result.get("warmup", []))
    rows = []
    for r in result["runs"]:
        t, v = r["timestamp_ms"], r["visible_ms"]
        rows.append(
            [
                f"{r['rate']:,}",
                r.get("pipeline", "streamscore"),
                r.get("guarantee", "exactly_once"),
                f"{r['scores_counted']:,}",
                f"{r['scores_read']:,} / {r['scores_expected']:,}",
                t["p50"],
                t["p95"],
                t["p99"],
                t["max"],
                v["p50"],
                v["p99"],
                _share(r.get("broker_jit_core_share")),
            ]
        )
    header = ["events/s", "pipeline", "guarantee", "scores counted", "scores read / expected"]
    header += ["p50", "p95", "p99", "max", "visible p50", "visible p99", "broker JIT"]
    return lines + _table(header, rows)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _warmup(runs: list[dict[str, Any]]) -> list[str]:
    """One line on the unreported warm-up runs.

    >>> _warmup([{"p99_ms": 30.0, "broker_jit_core_share": 0.2},
    ...          {"p99_ms": 12.0, "broker_jit_core_share": 0.01}])[0]
    'Warm-up, not reported: 2 runs at 5,000 events/s; broker JIT 20.0%, 1.0%; p99 30.0, 12.0 ms.'
    """
    if not runs:
        return []
    shares = ", ".join(_share(r["broker_jit_core_share"]) for r in runs)
    p99s = ", ".join(str(r["p99_ms"]) for r in runs)
    return [
        f"Warm-up, not reported: {len(runs)} run{'s' * (len(runs) > 1)} at 5,000 events/s; "
        f"broker JIT {shares}; p99 {p99s} ms.",
        "",
    ]


def memory(result: dict[str, Any]) -> list[str]:
    """The memory section."""
    lines = _heading(
        "Memory",
        result,
        f"{result['rate']:,} events/s for {result['seconds'] / 60:.0f} minutes (5% invalid, "
        f"30% labelled; the joiner's retention {result.get('retention_s', 0):g} s of event "
        "time, so its state is steady in size); RSS sampled every 5 s; growth compares the "
        "last minute's mean with minute 2's. *Records processed* are the input offsets the "
        "process committed.",
    )
    rows = [
        [
            name,
            f"{p['peak_mb']:.0f}",
            f"{p['steady_mb']:.0f}",
            f"{p['growth_pct']:+.1f}%",
            f"{p['processed']:,}",
        ]
        for name, p in result["processes"].items()
    ]
    lines += _table(
        ["process", "peak MiB", "steady MiB (min 2-10)", "growth", "records processed"], rows
    )
    samples: dict[str, list[list[float]]] = result.get("samples", {})
    minutes = range(1, int(result["seconds"] // 60) + 1)
    if samples:
        lines += ["", "Mean RSS (MiB) in each minute:", ""]
        lines += _table(
            ["process", *(f"min {m}" for m in minutes)],
            [[name, *(_minute_mean(s, m) for m in minutes)] for name, s in samples.items()],
        )
    return lines


def _minute_mean(samples: list[list[float]], minute: int) -> str:
    """Mean MiB of the (seconds, MiB) samples within ``minute`` (1-based)."""
    inside = [mb for t, mb in samples if (minute - 1) * 60 <= t < minute * 60]
    return f"{sum(inside) / len(inside):.0f}" if inside else "-"


def hotpath(result: dict[str, Any]) -> list[str]:
    """The levers section."""
    lines = ["## Hot-path levers (`python -m bench.hotpath`, no broker, µs per event)", ""]
    for key, title in [
        ("validation_us", "Parse and validate"),
        ("encoding_us", "Encode a score"),
        ("record_objects_us", "Build a record's origin"),
        ("prediction_us", "Predict (batches of 1,000)"),
        ("velocity_us", "Velocity features, per event in order"),
    ]:
        if key not in result:
            continue
        lines += [f"**{title}**", ""]
        lines += [*_table(["method", "µs"], [[k, v] for k, v in result[key].items()]), ""]
    stages = result["stages_us_by_batch_size"]
    names = list(next(iter(stages.values())))
    lines += ["**The pure pipeline per stage, by batch size and garbage collection**", ""]
    lines += _table(["batch, GC", *names], [[size, *row.values()] for size, row in stages.items()])
    return lines


def headers(result: dict[str, Any]) -> list[str]:
    """What reading consumed headers costs per record, by the headers records carry."""
    lines = _heading(
        "Consumed headers",
        result,
        "ns per record to build the scorer's InRecord of a consumed message and free both "
        "(in-process mock cluster, automatic GC off), by the headers the records carry: "
        "without them, "
        "reading every record's, and keeping the message so that only dead letters read "
        "them (what ships); last, what a dead letter pays to read them then.",
    )
    ways = list(next(iter(result["ns"].values())))
    rows = [[name, *by_way.values()] for name, by_way in result["ns"].items()]
    return lines + _table(["records carry", *ways], rows)


def reload(result: dict[str, Any]) -> list[str]:
    """How long scoring stops for a model reload that compiles."""
    lines = _heading(
        "Model reload",
        result,
        "The scorer's loop without a broker (batches of 100), reloading to a model whose "
        "trees must be compiled: the reload's duration, the longest and the median gap "
        "between two batches from the switch on, and the same load run in the loop's "
        "thread (how long scoring stopped when reloads did not run in the background).",
    )
    rows = [[r["reload_s"], r["longest_gap_ms"], r["median_gap_ms"], r["load_in_the_loop_s"]]
            for r in result["rounds"]]  # fmt: skip
    header = ["reload s", "longest gap ms", "median gap ms", "load in the loop s"]
    return lines + _table(header, rows)


def drift(result: dict[str, Any]) -> list[str]:
    """The drift detection section (the lines of ``bench/results/drift_eval.md``)."""
    from bench.drift_eval import report_lines  # the drift monitor's imports: only when shown

    lines = _heading(
        "Drift detection",
        result,
        "Generated streams (the training clock) through the model and the scorer's drift "
        "monitor, no broker, as read round-robin from 6 partitions, fed in batches of 250 "
        "and of 5,000; drift injected from a known event on.",
    )
    return lines + report_lines(result)


def drift_detectors(result: dict[str, Any]) -> list[str]:
    """The mean-shift detector comparison (why Page-Hinkley)."""
    from bench.drift_detectors import report_lines

    lines = _heading(
        "Mean-shift detectors compared",
        result,
        "River's candidates for `mean_shift`, fed the drift monitor's chunk statistics "
        "(250 events a chunk) of generated streams, no broker.",
    )
    return lines + report_lines(result)


def cbpe(result: dict[str, Any]) -> list[str]:
    """The performance-estimate section (CBPE against realised AUC)."""
    from bench.cbpe import report_lines

    lines = _heading(
        "AUC estimated before labels (CBPE) against realised AUC",
        result,
        f"Generated streams ({len(result['seeds'])} seeds of {result['events']:,} events, "
        f"a drift from event {result['drift_start']:,}) scored by model "
        f"{result['model_version']}, no broker; per window of {result['window']:,} events, "
        "the estimate from its scores against the AUC of its true labels (whose own "
        "sampling error is the SE shown). CBPE assumes P(y | x) unchanged: it follows "
        "covariate shifts and misses concept drift, which the divergence alert reports.",
    )
    return lines + report_lines(result)


def write_report() -> None:
    """Regenerate BENCHMARKS.md from the result files there are."""
    lines = ["# Benchmarks", ""]
    machine = (_load("throughput") or {}).get("machine")
    if machine:
        lines += [
            f"Measured {machine['date']} on {machine['cpus']} CPUs, Python {machine['python']}, "
            f"confluent-kafka {machine['confluent_kafka']} (librdkafka {machine['librdkafka']}), "
            f"LightGBM {machine['lightgbm']}, Kafka {machine['kafka']}. The broker shares "
            "the machine's cores with what is measured.",
            "",
        ]
    sections = [
        ("throughput", throughput),
        ("throughput_variants", throughput),
        ("latency", latency),
        ("latency_reasons", latency),
        ("latency_velocity", latency),
        ("memory", memory),
        ("joiner", joiner),
        ("joiner_recovery", recovery),
        ("system", system),
        ("reload", reload),
        ("hotpath", hotpath),
        ("headers", headers),
        ("drift_eval", drift),
        ("drift_detectors", drift_detectors),
        ("cbpe", cbpe),
        ("shadow", shadow),
        ("joiner_shadow", joiner_shadow),
        ("lifecycle", lifecycle),
        ("online", online),
        ("online_velocity", online),
        ("restart_pause", restart_pause),
        ("chaos", chaos),
        ("junk_throughput", junk_throughput),
        ("burst", burst),
        ("velocity_auc", velocity_auc),
        ("velocity_cost", velocity_cost),
        ("velocity_restore", velocity_restore),
        ("commit_cost", commit_cost),
    ]
    for name, render in sections:
        result = _load(name)
        if result is not None:
            lines += [*render(result), ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))


if __name__ == "__main__":
    write_report()
