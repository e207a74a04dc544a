"""CBPE: the AUC estimated from scores against the AUC realised on labels, and its cost.

    .venv/bin/python -m bench.cbpe            # ~1 min on 2 cores
    .venv/bin/python -m bench.cbpe --quick    # one seed, shorter streams

Generated events (the training clock) scored by ``models/``'s current version, in
memory, no broker. Per window of ``WINDOW`` events: the estimate
(:func:`streams.monitoring.estimate.expected_auc` on the window's scores) against the
realised AUC (:func:`streams.model.metrics.roc_auc` on its true labels), before and
after a drift from event ``START`` on: covariate shifts (P(y | x) unchanged, where CBPE
should hold) and concept drifts (P(y | x) changed, where it cannot). The realised AUC
of a window is itself noisy: its Hanley-McNeil standard error is reported beside the
error. Also: divergence alerts of the joiner's estimator fed the same stream (every
event labelled at once), and the estimator's cost per score and per label.
Writes ``bench/results/cbpe.json`` and regenerates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from bench.harness import RESULTS, ROOT
from streams.config import Settings
from streams.dev.generator import DriftSpec, GeneratorConfig, generate_events_clean
from streams.model.artifact import Model, load_model
from streams.model.metrics import roc_auc
from streams.monitoring.estimate import (
    EstimateConfig,
    PerformanceEstimator,
    auc_standard_error,
    expected_auc,
)
from streams.monitoring.quality import OnlineQuality

START = 10_000
WINDOW = 2_000
GRADUAL = 10_000

SCENARIOS: dict[str, DriftSpec | None] = {
    "stationary": None,
    "covariate: abrupt amount x3": DriftSpec(START, amount_scale=3.0),
    "covariate: gradual amount x3": DriftSpec(START, "gradual", GRADUAL, amount_scale=3.0),
    "covariate: abrupt half to ecom": DriftSpec(START, ecom_shift=0.5),
    "covariate: abrupt merchant mix": DriftSpec(START, merchant_shift=0.5),
    "covariate: abrupt distance +200 km": DriftSpec(START, distance_shift_km=200),
    "concept: abrupt": DriftSpec(START, concept=True),
    "concept: gradual": DriftSpec(START, "gradual", GRADUAL, concept=True),
}


def scored(model: Model, seed: int, count: int, spec: DriftSpec | None) -> tuple[Any, Any]:
    """Scores and true labels of ``count`` generated events."""
    config = GeneratorConfig(seed=seed, count=count, events_per_second=2.0,
                             drift=(spec,) if spec else ())  # fmt: skip
    clean = generate_events_clean(config)
    return model.predict(model.assembler.assemble(clean.events)), clean.labels.astype(float)


def windows(scores: Any, labels: Any) -> list[dict[str, float]]:
    """Per window: estimated and realised AUC, and the realised AUC's standard error."""
    out = []
    for at in range(0, len(scores) - WINDOW + 1, WINDOW):
        p, y = scores[at : at + WINDOW], labels[at : at + WINDOW]
        realised, positives = roc_auc(y, p), int(y.sum())
        se = auc_standard_error(realised, positives, WINDOW - positives)
        out.append({"start": at, "estimated": expected_auc(p), "realised": realised, "se": se,
                    "fraud_rate": positives / WINDOW, "mean_score": float(p.mean())})  # fmt: skip
    return out


def alerts(scores: Any, labels: Any, settings: Settings) -> list[int]:
    """Events seen at each divergence alert of the joiner's estimator (labels at once)."""
    quality = OnlineQuality(settings.quality_window, settings.review_threshold,
                            settings.quality_cooldown)  # fmt: skip
    est = PerformanceEstimator(EstimateConfig.from_settings(settings),
                               lambda v: quality.snapshot()[v]["roc_auc"])  # fmt: skip
    fired = []
    for at in range(0, len(scores), 500):
        p, y = scores[at : at + 500], labels[at : at + 500]
        est.observe("v", p)
        for i, (score, label) in enumerate(zip(p.tolist(), y.astype(int).tolist(), strict=True)):
            quality.update("v", label, score, at + i, None)
            if est.label("v", label, score, at + i, None) is not None:
                fired.append(at + i + 1)
    return fired


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    """Absolute errors of the estimate over ``rows``, their bias, and the realised noise."""
    err = np.array([r["estimated"] - r["realised"] for r in rows])
    return {"windows": len(rows), "mean_abs_error": float(np.abs(err).mean()),
            "max_abs_error": float(np.abs(err).max()), "bias": float(err.mean()),
            "realised_se": float(np.mean([r["se"] for r in rows])),
            "realised": float(np.mean([r["realised"] for r in rows])),
            "estimated": float(np.mean([r["estimated"] for r in rows])),
            "mean_score": float(np.mean([r["mean_score"] for r in rows])),
            "fraud_rate": float(np.mean([r["fraud_rate"] for r in rows]))}  # fmt: skip


def evaluate(model: Model, seeds: list[int], count: int) -> list[dict[str, Any]]:
    """Per scenario: the estimate's errors before and after the drift, and the alerts."""
    settings, out = Settings(), []
    for name, spec in SCENARIOS.items():
        before, after, fired = [], [], []
        for seed in seeds:
            scores, labels = scored(model, seed, count, spec)
            rows = windows(scores, labels)
            before += [r for r in rows if r["start"] + WINDOW <= START]
            # a gradual drift's ramp is left out: its windows mix both regimes
            settled = START + (GRADUAL if spec is not None and spec.kind == "gradual" else 0)
            after += [r for r in rows if r["start"] >= settled]
            fired.append(alerts(scores, labels, settings))
        out.append({"scenario": name, "before": summary(before), "after": summary(after),
                    "alerts_before": sum(sum(1 for a in f if a <= START) for f in fired),
                    "alerts_after": sum(sum(1 for a in f if a > START) for f in fired),
                    "first_alert_delay": [next((a - START for a in f if a > START), None)
                                          for f in fired]})  # fmt: skip
    return out


def cost(model: Model, rounds: int) -> dict[str, float]:
    """µs per score (observed a batch of 500 at a time, as the joiner does, two versions)
    and per label, the fastest of ``rounds``."""
    scores, labels = scored(model, 5, 200_000, None)
    pairs = [("v1" if i % 10 else "v2", s) for i, s in enumerate(scores.tolist())]
    config = EstimateConfig.from_settings(Settings())
    per_score, per_label = [], []
    for _ in range(rounds):
        est = PerformanceEstimator(config, lambda v: 0.9)
        t0 = time.perf_counter()
        for at in range(0, len(pairs), 500):
            est.observe_pairs(pairs[at : at + 500])
        t1 = time.perf_counter()
        for i, (score, label) in enumerate(zip(scores.tolist(), labels.tolist(), strict=True)):
            est.label("v1", int(label), score, i, None)
        t2 = time.perf_counter()
        per_score.append((t1 - t0) / len(pairs) * 1e6)
        per_label.append((t2 - t1) / len(pairs) * 1e6)
    return {"scores": len(pairs), "us_per_score": min(per_score), "us_per_label": min(per_label),
            "window": config.window, "step": config.step}  # fmt: skip


def report_lines(result: dict[str, Any]) -> list[str]:
    """The results as markdown (BENCHMARKS.md's section)."""
    c = result["cost"]
    lines = [
        "| scenario | before: mean / max abs error | after: mean / max abs error | after: "
        "bias | after: realised AUC (its SE) | after: mean score / fraud rate | divergence "
        "alerts before / after (first, events after the drift) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["scenarios"]:
        b, a = r["before"], r["after"]
        first = ", ".join("-" if d is None else f"{d:,}" for d in r["first_alert_delay"])
        lines.append(f"| {r['scenario']} | {b['mean_abs_error']:.3f} / {b['max_abs_error']:.3f} "
                     f"| {a['mean_abs_error']:.3f} / {a['max_abs_error']:.3f} | {a['bias']:+.3f} "
                     f"| {a['realised']:.3f} ({a['realised_se']:.3f}) | {a['mean_score']:.4f} / "
                     f"{a['fraud_rate']:.4f} | {r['alerts_before']} / "
                     f"{r['alerts_after']} ({first}) |")  # fmt: skip
    lines += ["", f"Cost: {c['us_per_score']:.2f} µs per score (batches of 500, the estimate "
              f"recomputed every {c['step']} scores over the last {c['window']:,}), "
              f"{c['us_per_label']:.2f} µs per label (calibration every {c['step']})."]  # fmt: skip
    return lines


def main() -> None:
    """Run the evaluation and write the results."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one seed, shorter streams")
    args = p.parse_args()
    model = load_model(ROOT / "models")
    seeds = [21] if args.quick else list(range(21, 27))
    count = 30_000 if args.quick else 50_000
    result = {
        "command": "python -m bench.cbpe" + (" --quick" if args.quick else ""),
        "model_version": model.version,
        "seeds": seeds, "events": count, "window": WINDOW, "drift_start": START,
        "scenarios": evaluate(model, seeds, count),
        "cost": cost(model, rounds=3),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cbpe.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(report_lines(result)))
    write_report()


if __name__ == "__main__":
    main()
