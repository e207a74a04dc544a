"""The scorer's loop in memory: what it scores while a commit is in flight, and what
goes into one transaction. The Kafka side is :class:`~streams.dev.memory_io.MemoryIO`,
whose commits end after a set number of polls (no clock, no broker)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.contract.records import InRecord, Origin
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.memory_io import MemoryIO
from streams.model.artifact import Model, load_model
from streams.ops.metrics import ScorerMetrics
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import BatchResult, ScoringPipeline
from streams.scoring.scorer import Scorer

MODELS = Path(__file__).resolve().parent.parent / "models"


class LoggedPipeline(ScoringPipeline):
    """The real pipeline, noting each call in the I/O's log."""

    def __init__(self, model: Model, settings: Settings, log: list[str]) -> None:
        super().__init__(model, pipeline_config(settings))
        self.log = log

    def process(self, batch: Sequence[InRecord], now_ms: int) -> BatchResult:
        self.log.append("score")
        return super().process(batch, now_ms)


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODELS)


def _arrivals(sizes: list[int], stop: threading.Event) -> Callable[[int], list[InRecord]]:
    """Polls get groups of ``sizes`` records (offsets 0, 1, ...; partition offset % 3)
    in turn; once they are all out, ``stop`` is set."""
    config = GeneratorConfig(seed=5, count=sum(sizes))
    raws = [r.value for r in generate(config) if r.topic == "events"]
    records = [InRecord(Origin("events", i % 3, i), None, raw) for i, raw in enumerate(raws)]
    groups, start = [], 0
    for size in sizes:
        groups.append(records[start : start + size])
        start += size

    def arrive(room: int) -> list[InRecord]:
        if not groups:
            stop.set()  # the loop ends after this cycle
            return []
        group = groups.pop(0)
        assert len(group) <= room
        return group

    return arrive


def _run(model: Model, io: MemoryIO, stop: threading.Event, **overrides: object) -> None:
    settings = Settings(drift_enabled=False, model_reload_s=0, gc_interval_s=0, **overrides)  # type: ignore[arg-type]
    metrics = ScorerMetrics(CollectorRegistry())
    Scorer(settings, LoggedPipeline(model, settings, io.log), io, metrics).run(stop)  # type: ignore[arg-type]
    assert io.closed


def _offsets(io: MemoryIO) -> list[list[int]]:
    """The input offsets of each batch sent, in order."""
    return [[r.origin.offset for r in batch] for _, batch in io.sent]


@pytest.mark.parametrize(
    ("part_min", "second_cycle"),
    [
        # scored in parts as they came, all before the commit was waited for; only
        # the top-up polled after it is left to score then
        (1, ["poll", "score", "poll", "score", "poll", "score", "settle", "poll", "score", "send"]),
        # 3 records, then 2 more: a part of 5, scored during the commit; the next 2
        # are taken in but wait, and are scored with the top-up polled after it
        (5, ["poll", "poll", "score", "poll", "settle", "poll", "score", "send"]),
    ],
)
def test_what_arrives_during_a_commit_is_taken_in_before_it_ends_and_sent_next(
    model: Model, part_min: int, second_cycle: list[str]
) -> None:
    stop = threading.Event()
    # the first batch, then a batch polled while it commits, two more arrivals during
    # that commit (it ends at the third poll after its send) and one just after it
    io = MemoryIO(_arrivals([4, 3, 2, 2, 2], stop), commit_polls=3)
    _run(model, io, stop, commit_poll_ms=1.0, commit_part_min=part_min)
    # the second transaction holds everything that arrived while the first committed
    assert _offsets(io)[:2] == [list(range(4)), list(range(4, 13))]
    first_send = io.log.index("send")
    assert io.log[first_send + 1 : io.log.index("send", first_send + 1) + 1] == second_cycle
    outputs = io.sent[1][0]
    assert len(outputs) == 9
    ids = [orjson.loads(o.value)["source"]["offset"] for o in outputs if o.topic == "scores"]
    assert ids == sorted(ids) and set(ids) <= set(range(4, 13))


def test_with_commit_poll_off_a_small_batch_waits_for_the_commit(model: Model) -> None:
    stop = threading.Event()
    io = MemoryIO(_arrivals([4, 3, 2, 2, 2, 1], stop), commit_polls=3)
    _run(model, io, stop, commit_poll_ms=0)
    first_send = io.log.index("send")
    # polled, then the commit waited for, then polled on top and scored as one
    assert io.log[first_send + 1 : first_send + 5] == ["poll", "settle", "poll", "score"]
    assert _offsets(io)[1] == list(range(4, 9))  # the arrivals polled after the commit


@pytest.mark.parametrize("part_min", [1, 64])  # revoked: parts already scored, records not yet
def test_records_of_a_partition_revoked_during_a_commit_are_not_sent(
    model: Model, part_min: int
) -> None:
    stop = threading.Event()
    arrive, polls = _arrivals([4, 3, 3, 3, 1], stop), [0]

    def arrive_and_revoke(room: int) -> list[InRecord]:
        polls[0] += 1
        if polls[0] == 4:  # while the second batch is being scored in parts
            io.revoke("events", 2)
        return arrive(room)

    io = MemoryIO(arrive_and_revoke, commit_polls=3)
    io.assigned = {("events", p) for p in range(3)}
    _run(model, io, stop, commit_poll_ms=1.0, commit_part_min=part_min)
    assert _offsets(io)[0] == [0, 1, 2, 3]
    # offsets 4-13: those of partition 2 (offset % 3 == 2), polled before the revoke or
    # in it, are not sent; the others are, one output each
    assert _offsets(io)[1] == [o for o in range(4, 14) if o % 3 != 2]
    assert len(io.sent[1][0]) == len(io.sent[1][1])
