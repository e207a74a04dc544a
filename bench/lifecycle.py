"""The model loop on the real broker: a concept change, its alert, the autopilot's retrain
in shadow, and what the retrained model is worth on events it never trained on.

    .venv/bin/python -m bench.lifecycle
    .venv/bin/python -m bench.lifecycle --before 30000 --after 90000 --rate 2000

One run: fresh topics, ``models/`` with v1 the champion, the scorer, the joiner and
``streamscore models autopilot`` as their own processes. Generated events (and their
feedback, labels a few simulated seconds later) go out at ``--rate`` per second: ``--before``
events of the concept v1 was trained on, then ``--after`` of the changed concept (the
generator's knob). Measured from the topics afterwards:

- the change to the joiner's concept alert, and the alert to the retrained version's
  first ``scores.shadow`` record: events scored meanwhile (``scores`` records by Kafka
  timestamp) and seconds;
- AUC of v1 on the labelled events before the change (its own concept), and of v1 and
  of the retrained version on the labelled events after the change that came after the
  retrained version's training window (neither trained on them: the post-change holdout);
  the goal is the retrained AUC within 0.02 of v1's before the change;
- the promotion gate's verdict on those labels (``streamscore models promote V --gate``).

Writes ``bench/results/lifecycle.json`` and regenerates ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.harness import RESULTS, ROOT, broker, spawn, stop
from streams.config import Settings
from streams.dev.generator import DriftSpec, FeedbackSpec, GeneratorConfig, generate
from streams.dev.generator.fraud import fraud_probability
from streams.dev.local import child_env, fresh_settings, wait_until
from streams.dev.produce import write_records
from streams.kafka import committed_total, end_total, read_topic
from streams.lifecycle.evidence import ShadowScores, paired_scores
from streams.lifecycle.labelled_data import latest_by_event
from streams.model.metrics import roc_auc
from streams.model.registry import read_challengers


def setup(bootstrap: str, models: Path, args: argparse.Namespace) -> Settings:
    """Fresh topics; models/ with v1 only."""
    import shutil

    shutil.copytree(ROOT / "models" / "v1", models / "v1")
    (models / "CURRENT").write_text("v1\n")
    return fresh_settings(
        bootstrap,
        "lifecycle",
        model_dir=models,
        challengers_max=1,
        model_reload_s=1.0,
        retrain_min_labels=args.min_labels,
        autopilot_check_s=2.0,
        compiled_model_dir=ROOT / "var" / "compiled",
        actor="bench",
    )


def stream(settings: Settings, args: argparse.Namespace) -> tuple[int, int, dict[str, float]]:
    """Produce the events and feedback; the event time of the change, the events sent and
    the true fraud probability of each event after the change (by event id)."""
    config = GeneratorConfig(
        seed=args.seed,
        count=args.before + args.after,
        drift=(DriftSpec(args.before, concept=True),),
        feedback=FeedbackSpec(delay_mean_s=5.0),
    )
    records = list(generate(config))
    change = next(r.event_time_ms for r in records if r.topic == "events" and r.drifted)
    truth = {}
    for r in records:
        if r.topic == "events" and r.drifted:
            event = orjson.loads(r.value)
            truth[event["event_id"]] = fraud_probability(event, concept=True)
    return change, write_records(settings, records, rate=args.rate).events, truth


def timestamps(settings: Settings, topic: str) -> list[tuple[int, dict[str, Any]]]:
    """(Kafka timestamp, value) of every committed record of ``topic``, by timestamp."""
    out = [
        (r.origin.timestamp_ms or 0, orjson.loads(r.value or b"{}"))
        for r in read_topic(settings, topic)
    ]
    return sorted(out, key=lambda t: t[0])


def between(stamps: list[int], start: int, end: int) -> int:
    """How many of the sorted ``stamps`` fall in [start, end]."""
    return bisect_right(stamps, end) - bisect_left(stamps, start)


def measure(settings: Settings, change: int, truth: dict[str, float]) -> dict[str, Any]:
    """Alert and shadow timings, AUCs before and after, from the topics."""
    scores = timestamps(settings, settings.topic_scores)
    stamps = [t for t, _ in scores]
    first_changed = next(t for t, s in scores if s["event_time"] >= change)
    alerts = [
        (t, a)
        for t, a in timestamps(settings, settings.topic_drift_alerts)
        if a["signal"] == "concept"
    ]
    alert_at = alerts[0][0] if alerts else None
    history = [
        orjson.loads(line)
        for line in (settings.model_dir / "HISTORY.jsonl").read_text().splitlines()
    ]
    entered = next(e for e in history if e["action"] == "shadow")
    entered_at = int(datetime.fromisoformat(entered["time"]).timestamp() * 1000)
    new = next(c.version for c in read_challengers(settings.model_dir))
    manifest = orjson.loads((settings.model_dir / new / "manifest.json").read_bytes())
    trained_until = manifest["training"]["event_time_max"]
    rows, _ = latest_by_event(read_topic(settings, settings.topic_labelled))
    shadow = ShadowScores(rows, {"v1", new})
    for r in read_topic(settings, settings.topic_scores_shadow):
        shadow.add(r.value)
    shadow_at = min(
        t
        for t, s in timestamps(settings, settings.topic_scores_shadow)
        if s["model_version"] == new
    )
    before = {e: r for e, r in rows.items() if r.event_time < change}
    after = {e: r for e, r in rows.items() if r.event_time > trained_until}
    y0 = np.array([r.label for r in before.values()], dtype=np.float64)
    p0 = np.array([r.score for r in before.values()], dtype=np.float64)
    y1, v1, v2 = paired_scores(after, shadow.scores, "v1", new)
    # the same events, in the same order, as paired_scores: what the truth would score
    paired = [
        e
        for e in sorted(after)
        if {"v1", new} <= {after[e].model_version, *shadow.scores.get(e, {})}
    ]
    pt = np.array([truth[e] for e in paired], dtype=np.float64)
    return {
        "new_version": new,
        "alerts": len(alerts),
        "change_to_alert": {
            "events": between(stamps, first_changed, alert_at),
            "seconds": (alert_at - first_changed) / 1000,
        }
        if alert_at
        else None,
        "alert_to_shadow": {
            "events": between(stamps, alert_at, shadow_at),
            "seconds": (shadow_at - alert_at) / 1000,
        }
        if alert_at
        else None,
        "alert": {k: alerts[0][1][k] for k in ("time", "window", "statistic", "events_seen")}
        if alerts
        else None,
        "change_event_time": change,
        "alert_to_entered_seconds": (entered_at - alert_at) / 1000 if alert_at else None,
        "entered_to_first_shadow_seconds": (shadow_at - entered_at) / 1000,
        "retrain": {
            "training_event_time": [manifest["training"]["event_time_min"], trained_until],
            **{k: manifest["lineage"][k] for k in ("label_counts", "holdout")},
        },
        "auc_v1_before_change": {"auc": round(roc_auc(y0, p0), 4), "labels": len(y0)},
        "post_change_holdout": {
            "labels": len(y1),
            "positives": int(y1.sum()),
            "auc_v1": round(roc_auc(y1, v1), 4),
            "auc_new": round(roc_auc(y1, v2), 4),
            "auc_true_probability": round(roc_auc(y1, pt), 4),
        },
    }


def gate(settings: Settings, version: str) -> dict[str, Any]:
    """``streamscore models promote V --gate``: exit code and the evidence it recorded."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams",
            "models",
            "promote",
            version,
            "--gate",
            "--reason",
            "bench",
        ],
        env=child_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    history = (settings.model_dir / "HISTORY.jsonl").read_text().splitlines()
    entry = orjson.loads(history[-1]) if history else {}
    return {
        "exit_code": done.returncode,
        "output": done.stdout.strip()[-400:],
        "evidence": entry.get("evidence") if entry.get("action") == "promote" else None,
    }


def main() -> None:
    """One run; write bench/results/lifecycle.json; regenerate BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=int, default=30_000)
    p.add_argument("--after", type=int, default=90_000)
    p.add_argument("--rate", type=float, default=2_000)
    p.add_argument("--min-labels", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--logs", default="var/bench-lifecycle", help="the processes' logs go here")
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, broker(args.bootstrap) as kafka:
        settings = setup(kafka.bootstrap, Path(tmp), args)
        logs = Path(args.logs)
        logs.mkdir(parents=True, exist_ok=True)
        commands = {"scorer": ["score"], "joiner": ["join"], "autopilot": ["models", "autopilot"]}
        procs = [spawn(settings, *c, log=logs / f"{n}.log") for n, c in commands.items()]
        try:
            t0 = time.monotonic()
            change, events, truth = stream(settings, args)
            group, topic = settings.scorer_group_id, settings.topic_events
            wait_until(
                lambda: committed_total(settings, group, topic) >= events, 300, "every event scored"
            )
            wait_until(
                lambda: bool(read_challengers(settings.model_dir)), 300, "the retrained shadow"
            )
            joiner, feedback = settings.joiner_group_id, settings.topic_feedback
            ends = end_total(settings, feedback)
            wait_until(lambda: committed_total(settings, joiner, feedback) >= ends, 300, "labels")
            result = {
                "events": events,
                "rate": args.rate,
                "seconds": time.monotonic() - t0,
                **measure(settings, change, truth),
            }
        finally:
            for proc in procs:
                stop(proc)
        result["gate"] = gate(settings, result["new_version"])
    command = (
        f"python -m bench.lifecycle --before {args.before} --after {args.after} "
        f"--rate {args.rate:g} --min-labels {args.min_labels} --seed {args.seed}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lifecycle.json").write_bytes(
        orjson.dumps({"command": command, **result}, option=orjson.OPT_INDENT_2)
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    write_report()


if __name__ == "__main__":
    main()
