"""The generated stream: events interleaved with their delayed feedback, in time order."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from streams.dev.generator.config import CleanEvents, FeedbackSpec, GeneratorConfig, Record
from streams.dev.generator.engine import Engine, dumps
from streams.dev.generator.world import BLOCK

_SOURCES = (
    ("manual_review",) * 8 + ("customer_report",) * 2,  # for label 0, then 1
    ("chargeback",) * 6 + ("customer_report",) * 3 + ("manual_review",),
)


def _feedback(
    fid: str, event_id: str, label: int, source: str, t: int, index: int, drifted: bool
) -> Record:
    value = dumps(
        {
            "feedback_id": fid,
            "event_id": event_id,
            "label": label,
            "label_source": source,
            "label_time": t,
        }
    )
    return Record("feedback", event_id.encode(), value, index, t, None, True, None, drifted)


def _schedule(
    heap: list[tuple[int, int, Record]],
    seq: Iterator[int],
    rec: Record,
    spec: FeedbackSpec,
    u: list[float],
    seed: int,
) -> None:
    """Push the feedback that valid event ``rec`` will get; ``u``: 8 uniforms for it."""
    truth, i = int(rec.label or 0), rec.index
    if u[0] >= (spec.fraud_fraction_labelled if truth else spec.fraction_labelled):
        return
    mean_ms = spec.delay_mean_s * 1000.0
    t = rec.event_time_ms + 1 + int(-mean_ms * math.log1p(-u[1]))  # exponential delay
    corrected = u[2] < spec.correction_fraction
    first = 1 - truth if corrected else truth
    event_id = f"ev-{seed}-{i}"
    fb = _feedback(
        f"fb-{seed}-{i}-0", event_id, first, _SOURCES[first][int(u[3] * 10)], t, i, rec.drifted
    )
    heapq.heappush(heap, (t, next(seq), fb))
    if u[4] < spec.duplicate_fraction:
        heapq.heappush(heap, (t, next(seq), fb))
    if corrected:
        t2 = t + 1 + int(-mean_ms * math.log1p(-u[5]))
        fix = _feedback(f"fb-{seed}-{i}-1", event_id, truth, "manual_review", t2, i, rec.drifted)
        heapq.heappush(heap, (t2, next(seq), fix))
    if u[6] < spec.unknown_fraction:
        ghost = _feedback(
            f"fb-{seed}-u{i}", f"ev-{seed}-u{i}", int(u[7] < 0.5), "manual_review", t, -1, False
        )
        heapq.heappush(heap, (t, next(seq), ghost))


def generate(config: GeneratorConfig) -> Iterator[Record]:
    """Stream ``config.count`` event records, interleaved with due feedback in time order.

    Memory is O(accounts + pending feedback).

    >>> fb = FeedbackSpec(fraction_labelled=1.0, delay_mean_s=0.01)
    >>> recs = list(generate(GeneratorConfig(seed=2, count=20, accounts=10, feedback=fb)))
    >>> sum(r.topic == "events" for r in recs), sum(r.topic == "feedback" for r in recs) >= 20
    (20, True)
    """
    eng, spec = Engine(config), config.feedback
    heap: list[tuple[int, int, Record]] = []
    seq = itertools.count()
    for start in range(0, config.count, BLOCK):
        n = min(BLOCK, config.count - start)
        records = eng.records(start, n)
        draws = eng.fb.random((n, 8)).tolist() if spec is not None else []
        for j, rec in enumerate(records):
            while heap and heap[0][0] <= rec.event_time_ms:
                yield heapq.heappop(heap)[2]
            yield rec
            if spec is not None and rec.valid:
                _schedule(heap, seq, rec, spec, draws[j], config.seed)
    while heap and spec is not None and spec.flush:
        yield heapq.heappop(heap)[2]


def generate_events_clean(config: GeneratorConfig) -> CleanEvents:
    """The events of ``generate(config)`` as clean dicts (drift applied; messy and feedback off).

    >>> clean = generate_events_clean(GeneratorConfig(seed=3, count=5, accounts=20))
    >>> len(clean.events), clean.labels.shape, float(clean.probabilities.max()) < 1.0
    (5, (5,), True)
    """
    eng = Engine(config)
    events: list[dict[str, Any]] = []
    labels, probs, drifted = [], [], []
    for start in range(0, config.count, BLOCK):
        b, p, y = eng.block(start, min(BLOCK, config.count - start))
        events.extend(eng.dicts(b))
        labels.append(y)
        probs.append(p)
        drifted.append(b.drifted)
    if not events:
        return CleanEvents([], np.zeros(0, np.int8), np.zeros(0), np.zeros(0, bool))
    return CleanEvents(
        events, np.concatenate(labels), np.concatenate(probs), np.concatenate(drifted)
    )
