"""Drift evaluation: detection delay, false alarms, and what drift tracking costs.

    .venv/bin/python -m bench.drift_eval            # about a minute on 2 cores
    .venv/bin/python -m bench.drift_eval --quick    # smaller, for a smoke run

Streams generated events (on the training clock, so a stationary stream looks like
the training data) through the real pipeline and drift monitor, in memory, and
reports per signal:
- delay: events from the drift's start index to the first alert of the expected
  signal, for abrupt and gradual drifts;
- false alarms per 100,000 stationary events, per signal, over several seeds;
- cost: drift tracking's share of the scorer's per-batch processing time
  (parse, validate, features, predict, build records), measured in this process.
Writes ``bench/results/drift_eval.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.config import Settings
from streams.drift import DriftConfig, DriftMonitor, scan
from streams.generator import DriftSpec, GeneratorConfig, generate, generate_events_clean
from streams.model import Model, load_model
from streams.pipeline import ScoringPipeline
from streams.records import InRecord, Origin
from streams.scorer import pipeline_config

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results"
START = 50_000
BATCH = 500


@dataclass(frozen=True)
class Scenario:
    """A drift to inject and the alert that should catch it."""

    name: str
    spec: DriftSpec | None
    expect: tuple[str, str]  # (signal, feature)
    unseen_currency: bool = False


def scenarios(width: int) -> list[Scenario]:
    """Abrupt and gradual versions of each kind of drift."""
    out = []
    for kind in ("abrupt", "gradual"):
        w = width if kind == "gradual" else 0
        out += [
            Scenario(f"{kind} amount x3", DriftSpec(START, kind, w, amount_scale=3.0),
                     ("distribution", "avg_amount_30d")),
            Scenario(f"{kind} merchant mix", DriftSpec(START, kind, w, merchant_shift=0.5),
                     ("distribution", "merchant_category")),
            Scenario(f"{kind} to ecom", DriftSpec(START, kind, w, ecom_shift=0.5),
                     ("distribution", "channel")),
            Scenario(f"{kind} distance +200 km", DriftSpec(START, kind, w, distance_shift_km=200),
                     ("distribution", "distance_from_home_km")),
            Scenario(f"{kind} feature goes missing",
                     DriftSpec(START, kind, w, missing_features=("distance_from_home_km",)),
                     ("missing_rate", "distance_from_home_km")),
        ]  # fmt: skip
    out.append(Scenario("abrupt unseen currency flood", None, ("unseen_rate", "currency"), True))
    return out


def run_monitor(model: Model, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All alerts of one stream, fed in batches as the scorer would."""
    return scan(model, events, batch=BATCH)


def _events(seed: int, count: int, spec: DriftSpec | None = None) -> list[dict[str, Any]]:
    config = GeneratorConfig(seed=seed, count=count, events_per_second=2.0,
                             drift=(spec,) if spec else ())  # fmt: skip
    return generate_events_clean(config).events


def delays(model: Model, width: int, after: int) -> list[dict[str, Any]]:
    """Detection delay per scenario (None: not detected within ``after`` events)."""
    rows = []
    for sc in scenarios(width):
        events = _events(11, START + after, sc.spec)
        if sc.unseen_currency:
            for e in events[START:]:
                e["currency"] = "XBT"
        alerts = run_monitor(model, events)
        hits = [a["events_seen"] for a in alerts if (a["signal"], a["feature"]) == sc.expect]
        early = [a for a in alerts if a["events_seen"] <= START]
        rows.append({"scenario": sc.name, "signal": "/".join(sc.expect),
                     "delay_events": hits[0] - START if hits else None,
                     "alerts_before_drift": len(early)})  # fmt: skip
    return rows


def false_alarms(model: Model, seeds: list[int], count: int) -> dict[str, Any]:
    """Alerts on stationary streams, per signal, per 100,000 events."""
    per_signal: Counter[str] = Counter()
    for seed in seeds:
        for a in run_monitor(model, _events(seed, count)):
            per_signal[f"{a['signal']}/{a['feature'] or 'score'}"] += 1
    total = len(seeds) * count
    worst = max(per_signal.values(), default=0)
    return {"events": total, "alerts": dict(per_signal),
            "per_100k_max_signal": worst * 100_000 / total}  # fmt: skip


def cost_share(model: Model, events: int) -> dict[str, float]:
    """Drift monitoring's share of per-batch processing time, same process, same batches."""
    pipeline = ScoringPipeline(model, pipeline_config(Settings()))
    monitor = DriftMonitor(model.manifest, model.assembler, DriftConfig())
    records = [r for r in generate(GeneratorConfig(seed=3, count=events)) if r.topic == "events"]
    t_pipe = t_drift = 0.0
    for i in range(0, len(records), 1000):
        batch = [InRecord(Origin("events", 0, i + j), r.key, r.value)
                 for j, r in enumerate(records[i : i + 1000])]  # fmt: skip
        t0 = time.perf_counter()
        result = pipeline.process(batch, now_ms=0)
        t1 = time.perf_counter()
        monitor.observe(result.features, result.scores, dict(result.decisions), None, 0)
        t_drift += time.perf_counter() - t1
        t_pipe += t1 - t0
    return {"events": events, "pipeline_us_per_event": t_pipe / events * 1e6,
            "drift_us_per_event": t_drift / events * 1e6,
            "drift_share": t_drift / (t_pipe + t_drift)}  # fmt: skip


def render(result: dict[str, Any]) -> str:
    """The markdown report."""
    lines = ["# Drift evaluation", "", f"Command: `{result['command']}`", "",
             "| scenario | expected signal | delay (events) | alerts before the drift |",
             "|---|---|---|---|"]  # fmt: skip
    for r in result["delays"]:
        delay = "not detected" if r["delay_events"] is None else str(r["delay_events"])
        lines.append(f"| {r['scenario']} | {r['signal']} | {delay} | {r['alerts_before_drift']} |")
    fa, cost = result["false_alarms"], result["cost"]
    worst = fa["per_100k_max_signal"]
    lines += [
        "",
        f"Stationary: {fa['events']:,} events, alerts by signal: {fa['alerts'] or 'none'}; "
        f"worst signal: {worst:.2f} false alarms per 100,000 events.",
        "",
        f"Cost: pipeline {cost['pipeline_us_per_event']:.2f} µs/event, drift "
        f"{cost['drift_us_per_event']:.2f} µs/event: drift is "
        f"{cost['drift_share']:.1%} of the scorer's per-event processing time.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the evaluation and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer and shorter streams")
    args = p.parse_args()
    model = load_model(ROOT / "models")
    seeds, count = ([101], 50_000) if args.quick else ([101, 202, 303, 404, 505], 100_000)
    result = {
        "command": "python -m bench.drift_eval" + (" --quick" if args.quick else ""),
        "delays": delays(model, width=5_000, after=10_000),
        "false_alarms": false_alarms(model, seeds, count),
        "cost": cost_share(model, 20_000 if args.quick else 100_000),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "drift_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / "drift_eval.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
