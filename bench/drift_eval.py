"""Drift evaluation: each signal's detection delay and false alarms, and what drift costs.

    .venv/bin/python -m bench.drift_eval            # ~2 min on 2 cores
    .venv/bin/python -m bench.drift_eval --quick    # smaller, for a smoke run

Streams generated events (on the training clock, so a stationary stream looks like
the training data) through the model and the drift monitor, in memory, as read
round-robin from 6 partitions, fed in batches of 250 and of 5,000 (a scorer keeping
up, and one catching up on a backlog), and reports:
- per drift scenario and signal: events from the drift's start to that signal's first
  alert, per seed, and alerts before the drift;
- whether the two batch sizes gave identical alerts (they should: the window is counted
  in events);
- per signal, alerts on stationary streams per 100,000 events, as deployed (cool-down
  on) and the detectors' own firings (cool-down off);
- cost: the drift monitor's time per event and its share of the scorer's per-batch
  processing (parse, validate, features, predict, records), same process, same batches.
Writes ``bench/results/drift_eval.json`` and ``.md``, and regenerates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from bench.harness import RESULTS, ROOT
from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.dev.generator import DriftSpec, GeneratorConfig, generate, generate_events_clean
from streams.model.artifact import Model, load_model
from streams.model.features import Matrix
from streams.monitoring.drift import DriftConfig, DriftMonitor
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import ScoringPipeline

START = 20_000
BATCHES = (250, 5_000)
PARTITIONS = 6
SIGNALS = ("distribution", "mean_shift", "missing_rate", "unseen_rate")

Events = list[dict[str, Any]]
Runs = list[list[dict[str, Any]]]  # per seed, the alert records of one stream


@dataclass(frozen=True)
class Scenario:
    """A drift to inject from event ``START`` on, by the generator or by editing events."""

    name: str
    spec: DriftSpec | None = None
    edit: Callable[[Model, Events], None] | None = None


def _unseen_currency(_model: Model, events: Events) -> None:
    for e in events[START:]:
        e["currency"] = "XBT"  # a level no model has seen


def _amounts_up_within_bins(model: Model, events: Events) -> None:
    """Each amount in an interior reference bin moves half-way up it: same bin counts."""
    edges = model.manifest["reference"]["features"]["amount"]["bins"]["edges"]
    for e in events[START:]:
        i = int(np.searchsorted(edges, e["amount"], side="left"))
        if 0 < i < len(edges):
            e["amount"] = round(edges[i] - (edges[i] - e["amount"]) / 2, 2)


def scenarios(width: int) -> list[Scenario]:
    """Abrupt and gradual versions of each kind of drift, and shifts under PSI's threshold."""
    out = []
    for kind in ("abrupt", "gradual"):
        w = width if kind == "gradual" else 0
        out += [
            Scenario(f"{kind} amount x3", DriftSpec(START, kind, w, amount_scale=3.0)),
            Scenario(f"{kind} merchant mix", DriftSpec(START, kind, w, merchant_shift=0.5)),
            Scenario(f"{kind} to ecom", DriftSpec(START, kind, w, ecom_shift=0.5)),
            Scenario(f"{kind} distance +200 km", DriftSpec(START, kind, w, distance_shift_km=200)),
            Scenario(f"{kind} feature goes missing",
                     DriftSpec(START, kind, w, missing_features=("distance_from_home_km",))),
            Scenario(f"{kind} amount x1.2", DriftSpec(START, kind, w, amount_scale=1.2)),
        ]  # fmt: skip
    return [
        *out,
        Scenario("abrupt 10% to ecom", DriftSpec(START, ecom_shift=0.1)),
        Scenario("abrupt distance +2 km", DriftSpec(START, distance_shift_km=2)),
        Scenario("abrupt amounts up within their bins", edit=_amounts_up_within_bins),
        Scenario("abrupt unseen currency flood", edit=_unseen_currency),
    ]


class Stream(NamedTuple):
    """A stream as the monitor sees it: features, scores, origins, event times."""

    X: Matrix
    scores: Matrix
    origins: list[Origin]
    times: list[int]


def stream(model: Model, events: Events) -> Stream:
    """Score ``events`` (row by row, so the same whatever the batches) and place them."""
    X = model.assembler.assemble(events)
    origins = [Origin("events", i % PARTITIONS, i // PARTITIONS) for i in range(len(events))]
    return Stream(X, model.predict(X), origins, [e["event_time"] for e in events])


def alerts(model: Model, s: Stream, batch: int, config: DriftConfig) -> list[dict[str, Any]]:
    """Every alert record of a fresh monitor fed ``s`` in batches of ``batch``."""
    monitor = DriftMonitor(model.manifest, config)
    out = []
    for i in range(0, len(s.times), batch):
        part = slice(i, i + batch)
        out += monitor.observe(s.X[part], s.scores[part], s.origins[part], s.times[part])
    return [a.record() for a in out]


def generated(seed: int, count: int, spec: DriftSpec | None = None) -> Events:
    """``count`` clean events of ``seed`` on the training clock, ``spec`` drifting them."""
    config = GeneratorConfig(seed=seed, count=count, events_per_second=2.0,
                             drift=(spec,) if spec else ())  # fmt: skip
    return generate_events_clean(config).events


def delays(model: Model, seeds: list[int], after: int, config: DriftConfig) -> dict[str, Any]:
    """Per scenario, batch size and signal: each seed's delay (None: not within ``after``
    events), the feature that fired first, and alerts before the drift."""
    rows, identical = [], True
    for sc in scenarios(width=5_000):
        by_batch: dict[int, Runs] = {b: [] for b in BATCHES}
        for seed in seeds:
            events = generated(seed, START + after, sc.spec)
            if sc.edit is not None:
                sc.edit(model, events)
            s = stream(model, events)
            for b in BATCHES:
                by_batch[b].append(alerts(model, s, b, config))
        identical &= by_batch[BATCHES[0]] == by_batch[BATCHES[-1]]
        rows += [_row(sc.name, b, signal, runs) for b, runs in by_batch.items()
                 for signal in SIGNALS]  # fmt: skip
    return {"rows": rows, "identical_across_batch_sizes": identical}


def _row(scenario: str, batch: int, signal: str, runs: Runs) -> dict[str, Any]:
    seed_delays, features, before = [], Counter[str](), 0
    for found in runs:
        mine = [a for a in found if a["signal"] == signal]
        before += sum(1 for a in mine if a["events_seen"] <= START)
        after = [a for a in mine if a["events_seen"] > START]
        seed_delays.append(after[0]["events_seen"] - START if after else None)
        if after:
            features[after[0]["feature"] or "score"] += 1
    return {"scenario": scenario, "batch": batch, "signal": signal, "delays": seed_delays,
            "first_feature": features.most_common(1)[0][0] if features else None,
            "alerts_before_drift": before}  # fmt: skip


def false_alarms(model: Model, seeds: list[int], count: int, config: DriftConfig) -> dict[str, Any]:
    """Alerts on stationary streams by signal (and by signal and feature): as deployed at
    each batch size, and with the cool-down off (every firing of the detectors)."""
    runs = {f"batch {b}": (b, config) for b in BATCHES}
    runs["no cool-down"] = (BATCHES[0], dataclasses.replace(config, cooldown=0))
    by_signal = {name: Counter[str]() for name in runs}
    by_feature = {name: Counter[str]() for name in runs}
    for seed in seeds:
        s = stream(model, generated(seed, count))
        for name, (batch, cfg) in runs.items():
            for a in alerts(model, s, batch, cfg):
                by_signal[name][a["signal"]] += 1
                by_feature[name][f"{a['signal']}/{a['feature'] or 'score'}"] += 1
    total = len(seeds) * count
    return {"events": total, "seeds": len(seeds),
            "alerts": {n: {sig: c[sig] for sig in SIGNALS} for n, c in by_signal.items()},
            "per_100k": {n: {sig: c[sig] * 100_000 / total for sig in SIGNALS}
                         for n, c in by_signal.items()},
            "by_feature": {n: dict(c) for n, c in by_feature.items()}}  # fmt: skip


def cost(model: Model, events: int, config: DriftConfig, rounds: int) -> dict[str, Any]:
    """Drift monitoring's time per event and share of per-batch processing, by batch size:
    the fastest of ``rounds`` (the machine's other work only ever adds time)."""
    pipeline = ScoringPipeline(model, pipeline_config(Settings()))
    records = [r for r in generate(GeneratorConfig(seed=3, count=events)) if r.topic == "events"]
    inputs = [InRecord(Origin("events", i % PARTITIONS, i), r.key, r.value)
              for i, r in enumerate(records)]  # fmt: skip
    out: dict[str, Any] = {"events": events, "rounds": rounds}
    for batch in BATCHES:
        t_pipe, t_drift = [], []
        for _ in range(rounds):
            monitor = DriftMonitor(model.manifest, config)
            pipe = drift = 0.0
            for i in range(0, len(inputs), batch):
                t0 = time.perf_counter()
                result = pipeline.process(inputs[i : i + batch], now_ms=0)
                t1 = time.perf_counter()
                monitor.observe(result.features, result.scores, result.origins,
                                result.event_times)  # fmt: skip
                drift += time.perf_counter() - t1
                pipe += t1 - t0
            t_pipe.append(pipe)
            t_drift.append(drift)
        pipe, drift = min(t_pipe), min(t_drift)
        out[str(batch)] = {"pipeline_us_per_event": pipe / events * 1e6,
                           "drift_us_per_event": drift / events * 1e6,
                           "drift_share": drift / (pipe + drift)}  # fmt: skip
    return out


def delay_cell(delays: list[int | None]) -> str:
    """Median delay (range), and how many seeds missed."""
    found = sorted(d for d in delays if d is not None)
    if not found:
        return "-"
    mid = found[len(found) // 2]
    spread = f" ({found[0]:,} to {found[-1]:,})" if found[0] != found[-1] else ""
    missed = f", {len(delays) - len(found)} missed" if len(found) < len(delays) else ""
    return f"{mid:,}{spread}{missed}"


def delay_table(result: dict[str, Any]) -> list[str]:
    """Rows of (scenario, signal) that fired, delays at both batch sizes side by side."""
    rows = result["delays"]["rows"]
    lines = [
        f"| scenario | signal (first feature) | delay, batches of {BATCHES[0]:,} | "
        f"batches of {BATCHES[-1]:,} | alerts before the drift |",
        "|---|---|---|---|---|",
    ]
    by_key = {(r["scenario"], r["signal"], r["batch"]): r for r in rows}
    for r in rows:
        fired = any(d is not None for d in r["delays"]) or r["alerts_before_drift"]
        if r["batch"] != BATCHES[0] or not fired:
            continue
        other = by_key[(r["scenario"], r["signal"], BATCHES[-1])]
        lines.append(f"| {r['scenario']} | {r['signal']} ({r['first_feature'] or '-'}) | "
                     f"{delay_cell(r['delays'])} | {delay_cell(other['delays'])} | "
                     f"{r['alerts_before_drift']} |")  # fmt: skip
    return lines


def report_lines(result: dict[str, Any]) -> list[str]:
    """The results as markdown: delays, false alarms, cost (BENCHMARKS.md uses them too)."""
    fa, seeds, c = result["false_alarms"], result["seeds"], result["cost"]
    same = "yes" if result["delays"]["identical_across_batch_sizes"] else "NO"
    lines = [
        f"Delay: events from the drift's start (event {START:,}) to each signal's first "
        f"alert, median over {len(seeds)} seeds (range); a scenario's signals that never "
        f"fired are left out. Alerts identical at both batch sizes: {same}.", "",
        *delay_table(result), "",
        f"Stationary streams: {fa['events']:,} events ({fa['seeds']} seeds), alerts per "
        "100,000 events (count) by signal, with the cool-down and without it (every firing "
        "of the detectors):", "",
        "| run | " + " | ".join(SIGNALS) + " |", "|---|" + "---|" * len(SIGNALS),
    ]  # fmt: skip
    for run, rates in fa["per_100k"].items():
        counts = fa["alerts"][run]
        lines.append(f"| {run} | " + " | ".join(f"{rates[s]:.2f} ({counts[s]})" for s in SIGNALS)
                     + " |")  # fmt: skip
    lines += ["", f"Cost, µs per event (fastest of {c['rounds']} rounds of {c['events']:,} "
              "events, the pipeline and the drift monitor in turn, one process):", "",
              "| batch | pipeline | drift | drift's share |", "|---|---|---|---|"]  # fmt: skip
    for batch in BATCHES:
        b = c[str(batch)]
        lines.append(f"| {batch:,} | {b['pipeline_us_per_event']:.2f} | "
                     f"{b['drift_us_per_event']:.2f} | {b['drift_share']:.1%} |")  # fmt: skip
    return lines


def render(result: dict[str, Any]) -> str:
    """The markdown report."""
    head = ["# Drift evaluation", "", f"Command: `{result['command']}`", ""]
    return "\n".join(head + report_lines(result)) + "\n"


def main() -> None:
    """Run the evaluation and write the results."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer and shorter streams")
    args = p.parse_args()
    model = load_model(ROOT / "models")
    config = DriftConfig.from_settings(Settings())
    seeds = [11] if args.quick else [11, 12, 13, 14, 15]
    fa_seeds = list(range(101, 103 if args.quick else 151))
    result = {
        "command": "python -m bench.drift_eval" + (" --quick" if args.quick else ""),
        "seeds": seeds,
        "delays": delays(model, seeds, after=30_000, config=config),
        "false_alarms": false_alarms(model, fa_seeds, 50_000 if args.quick else 100_000, config),
        "cost": cost(model, 20_000 if args.quick else 100_000, config, rounds=3),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "drift_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "drift_eval.md").write_text(render(result))
    print(render(result))
    write_report()


if __name__ == "__main__":
    main()
