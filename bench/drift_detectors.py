"""River's candidate mean-shift detectors on the scorer's chunk statistics: why Page-Hinkley.

    .venv/bin/python -m bench.drift_detectors            # ~2 min on 2 cores
    .venv/bin/python -m bench.drift_detectors --quick    # smaller, for a smoke run

Generated streams go through the model's features and the drift monitor's chunking
(:class:`~streams.monitoring.drift_chunks.Layout`, chunks of ``drift_step`` events); each
candidate is fed every chunk of every numeric feature ``mean_shift`` watches, as the
monitor would, with no cool-down. Reported per candidate: firings per 100,000
stationary events (all features together), delay of the first firing after an abrupt
drift (median and range over seeds), and µs per update. Writes
``bench/results/drift_detectors.json`` and regenerates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from river import drift

from bench.drift_eval import Events, delay_cell, generated, scenarios, stream
from bench.harness import RESULTS, ROOT
from streams.config import Settings
from streams.contract.decisions import decision_index
from streams.model.artifact import Model, load_model
from streams.model.features import Matrix
from streams.monitoring.detectors import ChunkMeanShift
from streams.monitoring.drift import DriftConfig
from streams.monitoring.drift_chunks import ChunkStats, Layout

START = 20_000
SCENARIOS = ("abrupt amount x3", "abrupt amount x1.2", "abrupt distance +2 km",
             "abrupt 10% to ecom", "abrupt amounts up within their bins")  # fmt: skip

# a candidate: given one stream's chunk statistics, the (chunk, feature) of each firing
Candidate = Callable[[ChunkStats, Layout, int], Iterator[int]]


def _means(stats: ChunkStats, layout: Layout, step: int) -> tuple[Matrix, Matrix, Matrix]:
    present = (step - stats.counts[:, layout.missing_slots[layout.ranked]]).astype(np.float64)
    return stats.rank_sum / np.maximum(present, 2), stats.rank_sq_sum, present


def _bin_mean_ranks(stats: ChunkStats, layout: Layout) -> Matrix:
    """Each chunk's mean bin-midpoint rank (0..1), per ranked feature: ADWIN's input as shipped."""
    out = []
    for j in layout.ranked.tolist():
        start, stop = int(layout.starts[j]), int(layout.unseen_slots[j])
        counts = stats.counts[:, start:stop]
        mids = (np.arange(stop - start) + 0.5) / (stop - start)
        out.append(counts @ mids / np.maximum(counts.sum(axis=1), 1))
    return np.array(out).T


def _standardised(stats: ChunkStats, layout: Layout, step: int) -> Matrix:
    """Chunk mean ranks in standard errors, centred on 0.5 (as ``mean_shift`` feeds them)."""
    mean, squares, present = _means(stats, layout, step)
    variance = np.maximum(squares - present * mean * mean, 0) / np.maximum(present - 1, 1)
    pooled = np.cumsum(variance, axis=0) / np.arange(1, len(variance) + 1)[:, None]
    return (mean - 0.5) * np.sqrt(step / pooled)


def _river(
    make: Callable[[], Any], values: Callable[[ChunkStats, Layout, int], Matrix]
) -> Candidate:
    def run(stats: ChunkStats, layout: Layout, step: int) -> Iterator[int]:
        series = values(stats, layout, step)
        for j in range(series.shape[1]):
            detector = make()
            for i, x in enumerate(series[:, j].tolist()):
                detector.update(x)
                if detector.drift_detected:
                    yield i

    return run


def _deployed(config: DriftConfig) -> Candidate:
    def run(stats: ChunkStats, layout: Layout, step: int) -> Iterator[int]:
        ms = ChunkMeanShift(len(layout.ranked), config.mean_shift_delta,
                            config.mean_shift_threshold, size=step, centre=0.5)  # fmt: skip
        present = step - stats.counts[:, layout.missing_slots[layout.ranked]]
        for i in range(len(stats.counts)):
            yield from (i for _ in ms.update(stats.rank_sum[i], stats.rank_sq_sum[i], present[i]))

    return run


def candidates(config: DriftConfig) -> dict[str, Candidate]:
    """What was measured: ADWIN as shipped, ADWIN and KSWIN on chunk statistics, and the
    Page-Hinkley ``mean_shift`` as deployed."""
    return {
        "ADWIN on bin mean ranks, delta 1e-5 (shipped before)": _river(
            lambda: _adwin(1e-5), lambda s, lay, _: _bin_mean_ranks(s, lay)
        ),
        "ADWIN on chunk means in standard errors, delta 1e-5": _river(
            lambda: _adwin(1e-5), _standardised
        ),
        # 0.05: the loosest delta tried that stays under 1 firing per 100,000 events (0.3: 1.2)
        "ADWIN on chunk means in standard errors, delta 0.05": _river(
            lambda: _adwin(0.05), _standardised
        ),
        "KSWIN on chunk mean ranks, alpha 1e-5, window 100, stat 30": _river(
            lambda: drift.KSWIN(alpha=1e-5, window_size=100, stat_size=30, seed=1),
            lambda s, lay, step: _means(s, lay, step)[0],
        ),
        f"Page-Hinkley in standard errors, delta {config.mean_shift_delta}, threshold "
        f"{config.mean_shift_threshold} (deployed)": _deployed(config),
    }


def _adwin(delta: float) -> Any:
    return drift.ADWIN(delta=delta, clock=1)  # type: ignore[no-untyped-call]


def chunk_stats(model: Model, events: Events, layout: Layout, config: DriftConfig) -> ChunkStats:
    """The drift monitor's chunk statistics of a whole stream."""
    s = stream(model, events)
    cut = len(s.times) // config.step * config.step
    decisions = decision_index(s.scores[:cut], config.review_threshold, config.decline_threshold)
    return layout.chunks(s.X[:cut], s.scores[:cut], decisions, config.step)


def evaluate(model: Model, seeds: list[int], stationary: int, count: int) -> dict[str, Any]:
    """Every candidate on the same stationary and drifting chunk statistics."""
    config = DriftConfig.from_settings(Settings())
    layout = Layout(model.manifest, config.exclude)
    quiet = [chunk_stats(model, generated(seed, count), layout, config) for seed in
             range(1_000, 1_000 + stationary)]  # fmt: skip
    drifting = {}
    for sc in (s for s in scenarios(width=5_000) if s.name in SCENARIOS):
        runs = []
        for seed in seeds:
            events = generated(seed, START + 30_000, sc.spec)
            if sc.edit is not None:
                sc.edit(model, events)
            runs.append(chunk_stats(model, events, layout, config))
        drifting[sc.name] = runs
    rows = []
    for name, run in candidates(config).items():
        t0, updates = time.perf_counter(), 0
        firings = 0
        for stats in quiet:
            firings += sum(1 for _ in run(stats, layout, config.step))
            updates += stats.counts.shape[0] * len(layout.ranked)
        us = (time.perf_counter() - t0) / updates * 1e6
        delays = {}
        for sc_name, runs in drifting.items():
            delays[sc_name] = [_first_after(run(stats, layout, config.step), config.step)
                               for stats in runs]  # fmt: skip
        rows.append({"candidate": name, "stationary_firings": firings,
                     "per_100k": firings * 100_000 / (stationary * count),
                     "us_per_update": us, "delays": delays})  # fmt: skip
    return {"stationary_events": stationary * count, "seeds": seeds, "rows": rows}


def _first_after(chunks: Iterator[int], step: int) -> int | None:
    after = [(i + 1) * step - START for i in chunks if (i + 1) * step > START]
    return min(after) if after else None


def report_lines(result: dict[str, Any]) -> list[str]:
    """The comparison as markdown (BENCHMARKS.md)."""
    names = list(result["rows"][0]["delays"])
    lines = [
        f"Firings in {result['stationary_events']:,} stationary events (all ten features, "
        f"no cool-down) and delay after an abrupt drift at event {START:,}, median over "
        f"{len(result['seeds'])} seeds (range; '-': not within 30,000 events).", "",
        "| candidate | per 100,000 stationary (firings) | µs per update | "
        + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]  # fmt: skip
    for r in result["rows"]:
        cells = " | ".join(delay_cell(r["delays"][n]) for n in names)
        lines.append(f"| {r['candidate']} | {r['per_100k']:.2f} ({r['stationary_firings']}) | "
                     f"{r['us_per_update']:.1f} | {cells} |")  # fmt: skip
    return lines


def main() -> None:
    """Run the comparison and write the results."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer and shorter streams")
    args = p.parse_args()
    model = load_model(ROOT / "models")
    seeds = [11, 12] if args.quick else [11, 12, 13, 14, 15]
    stationary = 2 if args.quick else 100
    result = {
        "command": "python -m bench.drift_detectors" + (" --quick" if args.quick else ""),
        **evaluate(model, seeds, stationary, count=50_000),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "drift_detectors.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(report_lines(result)))
    write_report()


if __name__ == "__main__":
    main()
