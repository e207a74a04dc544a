"""The online challenger, picked by measurement: River candidates beside the champion.

    .venv/bin/python -m bench.online            # ~5 min on 2 cores
    .venv/bin/python -m bench.online --quick    # shorter stream, no forest
    .venv/bin/python -m bench.online --velocity # logistic on 15 vs 25 features, ~2 min

In memory, no broker. Generated events (the training clock, 2 a second) with a concept
change at event ``START`` and delayed labels (``FeedbackSpec``: 30% of legitimate events
and 90% of frauds labelled, exponential delay), scored by ``models/v1`` and by each
candidate of :mod:`streams.monitoring.online_learner`, all starting untrained. Progressive
validation: each event is predicted when it arrives, a label is learned when it arrives
(first labels only), so no model ever scores an event it has learned. Per window of
``WINDOW`` events: each model's AUC on the events' true labels. Cost: µs per predict and
per learn (River, one record at a time), and the published linear model's numpy
prediction per record in batches of 500 (what the scorer pays for it as a shadow).
Writes ``bench/results/online.json`` and regenerates BENCHMARKS.md.

``--velocity``: the stream has account takeovers (the trainer's rate), and the logistic
learner runs twice: on the event's 15 features (what it learns under an event-only
champion) and on those plus the 10 velocity features, computed by the scorer's code in
stream order (what it learns under a velocity champion). Writes ``online_velocity.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import orjson

from bench.harness import RESULTS, ROOT
from streams.dev.generator import DriftSpec, FeedbackSpec, GeneratorConfig, generate
from streams.dev.training import TAKEOVERS, velocity_columns
from streams.model.artifact import load_model
from streams.model.features import FEATURE_NAMES, VELOCITY_SET, Matrix
from streams.model.metrics import roc_auc
from streams.monitoring.online_learner import (
    RiverModel,
    adaptive_forest,
    adaptive_tree,
    linear_predictor,
    logistic,
)

START = 30_000
WINDOW = 2_000
FEEDBACK = FeedbackSpec(delay_mean_s=300.0, duplicate_fraction=0.0, correction_fraction=0.0,
                        unknown_fraction=0.0)  # fmt: skip


def stream(
    seed: int, count: int, takeovers: float = 0.0
) -> tuple[Matrix, Matrix, list[tuple[str, int]]]:
    """v1's features of every event, then its velocity features if there are
    ``takeovers``, their true labels, and the arrivals in time order: ("event", index) or
    ("label", index) for each event's first label."""
    drift = (DriftSpec(START, concept=True),)
    config = GeneratorConfig(seed, count, events_per_second=2.0, drift=drift, feedback=FEEDBACK,
                             takeovers=takeovers)  # fmt: skip
    events, labels, order, labelled = [], [], [], set()
    for rec in generate(config):
        if rec.topic == "events":
            order.append(("event", rec.index))
            events.append(orjson.loads(rec.value))
            labels.append(rec.label)
        elif rec.index >= 0 and rec.index not in labelled:
            labelled.add(rec.index)
            order.append(("label", rec.index))
    model = load_model(ROOT / "models", "v1")
    X = model.assembler.assemble(events)
    if takeovers:
        X = np.hstack([X, velocity_columns(events)[0]])
    return X, np.array(labels, dtype=np.float64), order


def run(
    candidate: RiverModel, X: Matrix, y: Matrix, order: list[tuple[str, int]]
) -> dict[str, Any]:
    """Progressive scores of every event, and the µs per predict and per learn."""
    scores = np.zeros(len(y))
    rows = [tuple(r) for r in X.tolist()]
    names = VELOCITY_SET.names if X.shape[1] == len(VELOCITY_SET.names) else FEATURE_NAMES
    t_pred = t_learn = 0.0
    learned = 0
    for kind, i in order:
        t0 = time.perf_counter()
        if kind == "event":
            scores[i] = candidate.predict(rows[i], names)
            t_pred += time.perf_counter() - t0
        else:
            candidate.learn(rows[i], int(y[i]), names)
            t_learn += time.perf_counter() - t0
            learned += 1
    return {"scores": scores, "us_predict": t_pred / len(y) * 1e6,
            "us_learn": t_learn / max(learned, 1) * 1e6, "labels": learned}  # fmt: skip


def windows(y: Matrix, p: Matrix) -> list[float]:
    """AUC of each window of ``WINDOW`` events."""
    return [
        roc_auc(y[a : a + WINDOW], p[a : a + WINDOW]) for a in range(0, len(y) - WINDOW + 1, WINDOW)
    ]


def phases(aucs: list[float], count: int) -> dict[str, float]:
    """Mean window AUC: the 10,000 events before the change, the first 10,000 after,
    and the rest (settled)."""
    starts = np.arange(len(aucs)) * WINDOW
    a = np.array(aucs)
    pick = {"before": (starts >= START - 10_000) & (starts < START),
            "after_10k": (starts >= START) & (starts < START + 10_000),
            "after_settled": starts >= START + 10_000}  # fmt: skip
    return {k: float(a[m].mean()) if m.any() else float("nan") for k, m in pick.items()}


def numpy_cost(candidate: RiverModel, X: Matrix) -> float:
    """µs per record of the published linear model's numpy prediction, batches of 500."""
    predictor, best = linear_predictor(candidate), float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for at in range(0, len(X), 500):
            predictor.predict(X[at : at + 500])
        best = min(best, (time.perf_counter() - t0) / len(X) * 1e6)
    return best


def main() -> None:
    """Run every candidate on the same stream and write the results."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter stream, no forest")
    p.add_argument("--velocity", action="store_true", help="logistic on 15 vs 25 features")
    args = p.parse_args()
    seed, count = 31, 50_000 if args.quick else 70_000
    X, y, order = stream(seed, count, TAKEOVERS if args.velocity else 0.0)
    event_x = X[:, : len(FEATURE_NAMES)]
    v1 = load_model(ROOT / "models", "v1").predict(event_x)
    runs: dict[str, tuple[RiverModel, Matrix]]
    if args.velocity:
        runs = {"logistic (lr 0.01), the event's 15 features": (logistic(0.01), event_x),
                "logistic (lr 0.01), 15 + 10 velocity features": (logistic(0.01), X)}  # fmt: skip
    else:
        runs = {"logistic (lr 0.01)": (logistic(0.01), X),
                "logistic (lr 0.05)": (logistic(0.05), X),
                "hoeffding adaptive tree": (adaptive_tree(seed), X)}  # fmt: skip
        if not args.quick:
            runs["adaptive random forest (10 trees)"] = (adaptive_forest(seed), X)
    models: dict[str, Any] = {"champion v1 (LightGBM, not learning)": {"scores": v1}}
    for name, (candidate, x) in runs.items():
        print("bench.online:", name, flush=True)
        models[name] = run(candidate, x, y, order)
        if candidate.name == "logistic":
            models[name]["us_numpy_predict"] = numpy_cost(candidate, x)
    rows = []
    for name, m in models.items():
        aucs = windows(y, m.pop("scores"))
        rows.append({"model": name, **m, **phases(aucs, count), "window_auc": aucs})
    flag = " --quick" if args.quick else " --velocity" if args.velocity else ""
    result = {"command": "python -m bench.online" + flag, "takeovers": TAKEOVERS * args.velocity,
              "seed": seed, "events": count, "window": WINDOW, "concept_change_at": START,
              "labels": models[next(iter(runs))]["labels"],
              "label_delay_mean_events": FEEDBACK.delay_mean_s * 2.0,
              "fraud_rate": float(y.mean()), "rows": rows}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "online_velocity" if args.velocity else "online"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    from bench.report_online import online

    print("\n".join(online(result)))
    write_report()


if __name__ == "__main__":
    main()
