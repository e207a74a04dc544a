"""How long the scorer stops scoring when it reloads to a model it must compile.

    .venv/bin/python -m bench.reload        # ~15 s, no broker; writes bench/results/reload.json

The scorer's own loop (:class:`streams.scoring.scorer.Scorer`, predictor ``auto``) scores
batches of 100 generated events from a stand-in for its Kafka layer
(:class:`streams.dev.memory_io.MemoryIO`, so no broker and nothing else on the cores), with
an empty compiled-model cache, so the new version's trees must be compiled.
``models/CURRENT`` is switched to the new version, and every batch's start time is
kept. Reported, per round: how long the reload took (switch to swap), the longest gap
between two batches from the switch on, and the median gap as the baseline; and, in
the same process, how long the same load takes in the loop's own thread, which is how
long the scorer stopped before reloads ran in the background.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from bench.harness import RESULTS
from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import ROOT, wait_until
from streams.dev.memory_io import MemoryIO
from streams.monitoring.drift import drift_monitor
from streams.ops.metrics import ScorerMetrics
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import ScoringPipeline
from streams.scoring.reload import ModelReloader, load
from streams.scoring.scorer import Scorer


def one_round(tmp: Path, raws: list[bytes]) -> dict[str, float]:
    """One reload v1 -> v2 (the same model file, so the same compile) in a fresh cache."""
    models = tmp / "models"
    shutil.rmtree(tmp, ignore_errors=True)
    for version in ("v1", "v2"):
        shutil.copytree(ROOT / "models" / "v1", models / version)
    (models / "CURRENT").write_text("v1\n")
    settings = Settings(model_dir=models, compiled_model_dir=tmp / "cache", model_reload_s=0.5)
    model = load(settings, "v1")
    shutil.rmtree(tmp / "cache")  # v2 must be compiled again
    starts: list[float] = []
    offsets = iter(range(10**12))

    def poll(_room: int) -> list[InRecord]:
        starts.append(time.perf_counter())
        return [InRecord(Origin("events", 0, next(offsets)), None, raw) for raw in raws]

    io = MemoryIO(poll, keep_sent=False)
    pipeline = ScoringPipeline(model, pipeline_config(settings))
    reloader = ModelReloader(settings, partial(load, settings))
    metrics = ScorerMetrics(CollectorRegistry())
    scorer = Scorer(settings, pipeline, io, metrics, drift_monitor(settings, model), reloader)
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: len(starts) > 500, 60, "the scorer to warm up")
        (models / "CURRENT").write_text("v2\n")
        switched = time.perf_counter()
        wait_until(lambda: scorer.version_in_use == "v2", 120, "the swap to v2")
        swapped = time.perf_counter()
        n = len(starts)
        wait_until(lambda: len(starts) > n + 200, 60, "batches after the swap")
    finally:
        stop.set()
        thread.join(60)
    gaps = [b - a for a, b in pairwise(starts) if b > switched]
    shutil.rmtree(tmp / "cache")
    t0 = time.perf_counter()
    load(settings, "v2")  # what the loop's thread did before: the same compile, in line
    in_line = time.perf_counter() - t0
    return {"reload_s": round(swapped - switched, 2), "longest_gap_ms": round(max(gaps) * 1e3, 1),
            "median_gap_ms": round(statistics.median(gaps) * 1e3, 2),
            "load_in_the_loop_s": round(in_line, 2)}  # fmt: skip


def main() -> None:
    """Three rounds; write bench/results/reload.json and BENCHMARKS.md."""
    from bench.report import write_report

    config = GeneratorConfig(seed=3, count=500)
    raws = [r.value or b"" for r in generate(config) if r.topic == "events"][:100]
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            rounds.append(one_round(Path(tmp) / "round", raws))
            print(orjson.dumps(rounds[-1]).decode(), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"command": "python -m bench.reload", "rounds": rounds}
    (RESULTS / "reload.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    write_report()


if __name__ == "__main__":
    main()
