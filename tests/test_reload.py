"""Model reloading in the background: the scorer scores on while a new version loads."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.contract.records import InRecord, Origin, OutRecord
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.memory_io import MemoryIO
from streams.errors import ModelError
from streams.model.artifact import Model, load_model
from streams.ops.metrics import ScorerMetrics
from streams.scoring.challengers import ModelSet
from streams.scoring.factory import pipeline_config
from streams.scoring.pipeline import ScoringPipeline
from streams.scoring.reload import ModelReloader
from streams.scoring.scorer import Scorer
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def v1() -> Model:
    return load_model(ROOT / "models", "v1")


def _settings(model_dir: Path, current: str) -> Settings:
    (model_dir / "CURRENT").write_text(current + "\n")
    return Settings(model_dir=model_dir, model_reload_s=0.01)


def test_scoring_goes_on_while_a_new_version_loads(v1: Model, tmp_path: Path) -> None:
    settings = _settings(tmp_path, "v1")
    started, release = threading.Event(), threading.Event()

    def slow_load(version: str) -> Model:  # stands for a compile that takes seconds
        started.set()
        assert release.wait(60)
        return dataclasses.replace(v1, version=version)

    raws = [r.value for r in generate(GeneratorConfig(seed=3, count=200)) if r.topic == "events"]
    offsets = iter(range(10**9))
    stop = threading.Event()
    versions: list[str] = []  # of every score sent, in order
    lock = threading.Lock()

    def send(outputs: Sequence[OutRecord], _batch: object) -> None:
        with lock:
            versions.extend(orjson.loads(o.value)["model_version"]
                            for o in outputs if o.topic == settings.topic_scores)  # fmt: skip

    io = MemoryIO(
        lambda _room: [
            InRecord(Origin("events", 0, next(offsets)), None, raw) for raw in raws[:20]
        ],
        on_send=send,
        keep_sent=False,
    )
    pipeline = ScoringPipeline(v1, pipeline_config(settings))
    scorer = Scorer(settings, pipeline, io, ScorerMetrics(CollectorRegistry()),
                    reloader=ModelReloader(settings, slow_load))  # fmt: skip
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(versions) > 0, 30, "the first scores")
        (tmp_path / "CURRENT").write_text("v2\n")
        wait_for(started.is_set, 30, "the load of v2 to start")
        with lock:
            during = len(versions)
        # the load is blocked: batches keep coming out, scored by v1
        wait_for(lambda: len(versions) >= during + 200, 30, "scores while v2 loads")
        assert set(versions) == {"v1"}
        release.set()
        wait_for(lambda: versions[-1] == "v2", 30, "scores by v2")
    finally:
        release.set()
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    first_v2 = versions.index("v2")
    assert set(versions[:first_v2]) == {"v1"} and set(versions[first_v2:]) == {"v2"}
    assert first_v2 >= during + 200


def test_a_version_that_fails_to_load_keeps_the_model_and_is_tried_again(
    v1: Model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def failing(version: str) -> Model:
        calls.append(version)
        raise ModelError(f"{version}: manifest does not match")

    reloader = ModelReloader(_settings(tmp_path, "v2"), failing)
    with caplog.at_level(logging.WARNING, logger="streams.scoring.reload"):
        wait_for(
            lambda: reloader.poll(ModelSet(v1)) is None and len(calls) >= 2, 30, "two attempts"
        )
    assert set(calls) == {"v2"}
    failures = [r for r in caplog.records if r.getMessage() == "model not (re)loaded"]
    assert failures and getattr(failures[0], "version", None) == "v2"


def test_no_load_while_current_names_the_model_in_use(v1: Model, tmp_path: Path) -> None:
    calls: list[str] = []

    def load(version: str) -> Model:
        calls.append(version)
        raise ModelError("not expected")

    reloader = ModelReloader(_settings(tmp_path, "v1"), load)
    t0 = time.monotonic()
    # a load that should not happen cannot be awaited: poll over 20 check intervals
    wait_for(
        lambda: reloader.poll(ModelSet(v1)) is None and time.monotonic() > t0 + 0.2, 30, "polls"
    )
    assert calls == [] and not reloader.loading
    (tmp_path / "CURRENT").write_text("v2\n")  # the check itself works
    wait_for(lambda: reloader.poll(ModelSet(v1)) is None and calls == ["v2"], 30, "a load of v2")


def test_a_bug_in_loading_is_raised_in_the_scorers_thread(v1: Model, tmp_path: Path) -> None:
    def broken(_version: str) -> Model:
        raise KeyError("model_file")

    reloader = ModelReloader(_settings(tmp_path, "v2"), broken)
    with pytest.raises(KeyError, match="model_file"):
        wait_for(lambda: reloader.poll(ModelSet(v1)) is not None, 30, "the load to finish")


def test_an_empty_current_pointer_is_refused_and_the_model_kept(v1: Model, tmp_path: Path) -> None:
    calls: list[str] = []

    def load(version: str) -> Model:
        calls.append(version)
        return dataclasses.replace(v1, version=version)

    reloader = ModelReloader(_settings(tmp_path, "v1"), load)
    (tmp_path / "CURRENT").write_text("")  # as a reader sees a file being rewritten in place
    t0 = time.monotonic()
    wait_for(
        lambda: reloader.poll(ModelSet(v1)) is None and time.monotonic() > t0 + 0.2, 30, "polls"
    )
    assert calls == [] and not reloader.loading
