"""The scorer with a velocity model, in memory: every committed score's velocity
features equal the brute force from its account's earlier events, through aborted
transactions, a restart from the changelog and a partition revoked mid-batch; a model
of the event's own features writes no changelog and no ``cold_start``."""

from __future__ import annotations

import random
import threading
import zlib
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from velocity_models import check_velocity, write_velocity_models

from streams.config import Settings
from streams.contract.records import InRecord, Origin, OutRecord
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate
from streams.kafka.batch import BatchAborted
from streams.model.artifact import load_model
from streams.monitoring.drift import drift_monitor
from streams.ops.metrics import ScorerMetrics
from streams.scoring.account_state import account_states
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import ScoringPipeline
from streams.scoring.scorer import Scorer
from streams.scoring.state_restore import StateRestorer

PARTITIONS = 3
CHANGELOG = "streamscore-scorer-accounts-changelog"


class LogIO:
    """A topic's partitions read in one order, committed offsets, transactions that abort
    at random (rewinding every partition to the committed position), and revokes."""

    def __init__(self, records: list[InRecord], abort: float, seed: int, start: int = 0) -> None:
        self.records, self.abort, self.rng = records, abort, random.Random(seed)
        self.cursor = self.committed = start  # positions in ``records``
        self.assigned: set[tuple[str, int]] | None = {("events", p) for p in range(PARTITIONS)}
        self.revoked = False
        self.outputs: list[OutRecord] = []  # committed
        self._pending: tuple[list[OutRecord], int] | None = None
        self._left = 0  # polls until the commit in flight is through (parts scored meanwhile)
        self.revoke_at: int | None = None  # revoke partition 0 when the cursor passes this
        self.stop = threading.Event()

    def poll_batch(self, max_size: int, *_waits: float) -> list[InRecord]:
        self.revoked = False
        self._left = max(self._left - 1, 0)
        if self.revoke_at is not None and self.cursor >= self.revoke_at:
            self.revoke_at, self.revoked = None, True
            self.assigned = {("events", p) for p in range(1, PARTITIONS)}
        size = self.rng.randint(1, max_size)
        batch = self.owned(self.records[self.cursor : self.cursor + size])
        self.cursor = min(self.cursor + size, len(self.records))
        if self.committed == len(self.records):
            self.stop.set()
        return batch

    def poll_more(self, batch: list[InRecord], max_size: int) -> list[InRecord]:
        more = self.poll_batch(max_size - len(batch))
        return (self.owned(batch) if self.revoked else batch) + more

    def owned(self, batch: list[InRecord]) -> list[InRecord]:
        keep = self.assigned or set()
        return [r for r in batch if (r.origin.topic, r.origin.partition) in keep]

    def committing(self) -> bool:
        return self._left > 0

    def wait_commit(self, _timeout_s: float) -> None:
        """Commits end in settle()."""

    def send(self, outputs: Sequence[OutRecord], batch: Sequence[InRecord]) -> None:
        self._pending = (list(outputs), self.cursor)
        self._left = 3

    def settle(self) -> dict[str, float]:
        pending, self._pending = self._pending, None
        self._left = 0
        if pending is not None:
            if self.rng.random() < self.abort:
                self.cursor = self.committed
                raise BatchAborted("test")
            self.outputs += pending[0]
            self.committed = pending[1]
        return {}

    def broker_reachable(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to close."""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_velocity_models(tmp_path_factory.mktemp("models"))


def _events(count: int) -> tuple[list[InRecord], list[dict[str, Any]]]:
    """Generated events on the partition of their account, in order; and their dicts."""
    config = GeneratorConfig(seed=9, count=count, events_per_second=1.0, accounts=60)
    values = [r.value for r in generate(config) if r.topic == "events"]
    dicts = [orjson.loads(v) for v in values]
    offsets = [0] * PARTITIONS
    records = []
    for value, event in zip(values, dicts, strict=True):
        p = zlib.crc32(event["account_id"].encode()) % PARTITIONS
        records.append(InRecord(Origin("events", p, offsets[p]), None, value))
        offsets[p] += 1
    return records, dicts


def _changelog(io: LogIO) -> Any:
    def read(partitions: Collection[int]) -> dict[int, list[tuple[bytes, bytes | None]]]:
        out: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in partitions}
        for r in io.outputs:
            if r.topic == CHANGELOG and r.partition in out and r.key is not None:
                out[r.partition].append((r.key, r.value))
        return out

    return read


def _run(models: Path, version: str, io: LogIO, changelog_from: LogIO | None = None) -> None:
    settings = Settings(
        model_dir=models, predictor="lightgbm", model_reload_s=0, drift_step=50, drift_window=100,
        gc_interval_s=0, batch_max_size=50, commit_part_min=5,
    )  # fmt: skip
    model = load_model(models, version)
    pipeline = ScoringPipeline(model, pipeline_config(settings), states=account_states(settings))
    metrics = ScorerMetrics(CollectorRegistry())
    drift = drift_monitor(settings, model)  # it watches the event's own features
    changelog = _changelog(changelog_from or io)
    scorer = Scorer(settings, pipeline, io, metrics, drift, restorer=StateRestorer(changelog))  # type: ignore[arg-type]
    scorer.run(io.stop)


def _scores(io: LogIO) -> list[dict[str, Any]]:
    return [orjson.loads(r.value or b"") for r in io.outputs if r.topic == "scores"]


def test_features_equal_the_brute_force_through_aborts_and_a_restart(models: Path) -> None:
    records, events = _events(3_000)
    first = LogIO(records[:1_800], abort=0.3, seed=1)
    _run(models, "v2", first)
    assert first.committed == 1_800
    # a new scorer: its state from the first one's committed changelog
    second = LogIO(records, abort=0.3, seed=2, start=1_800)
    second.outputs = list(first.outputs)
    _run(models, "v2", second)
    scores = _scores(second)
    assert sorted(s["event_id"] for s in scores) == sorted(e["event_id"] for e in events)
    assert check_velocity(scores, events) == 3_000
    assert all(validator("score").is_valid(s) for s in scores)
    assert any(s["cold_start"] for s in scores) and not all(s["cold_start"] for s in scores)
    changelog = [r for r in second.outputs if r.topic == CHANGELOG]
    assert {r.partition for r in changelog} == set(range(PARTITIONS))


def test_a_revoke_mid_batch_scores_the_rest_again_from_the_state_before(models: Path) -> None:
    records, events = _events(1_500)
    io = LogIO(records, abort=0.1, seed=3)
    io.revoke_at = 700
    _run(models, "v2", io)
    scores = _scores(io)
    kept = [e for e, r in zip(events, records, strict=True) if r.origin.partition != 0]
    mine = {e["event_id"] for e in kept}
    assert {s["event_id"] for s in scores if s["source"]["partition"] != 0} == mine
    check_velocity([s for s in scores if s["event_id"] in mine], kept)


def test_a_model_of_the_events_own_features_keeps_no_state(models: Path) -> None:
    records, _ = _events(300)
    io = LogIO(records, abort=0.2, seed=4)
    _run(models, "v1", io)
    scores = _scores(io)
    assert all("cold_start" not in s for s in scores) and len(scores) == 300
    assert all(validator("score").is_valid(s) for s in scores)
    assert not [r for r in io.outputs if r.topic == CHANGELOG]
