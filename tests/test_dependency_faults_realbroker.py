"""A running scorer process whose dependencies fail (issue 26 part 4): the dead-letter
topic deleted, or refusing writes, and the models directory emptied or corrupted. The
scorer commits nothing for events it could not place, says so (log, metric, ``/readyz``),
never exits, and recovers by itself when the fault clears; nothing lost or doubled."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from helpers import child_env, free_port, isolated_settings, readyz, wait_for

from streams.config import Settings
from streams.dev.generator import GeneratorConfig, MessySpec, Record, generate
from streams.dev.models import copy_version
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.errors import BrokerError
from streams.kafka import committed_total, end_total, ensure_topics, read_topic, topic_partitions
from streams.kafka.config import librdkafka_config

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent


class Scorer:
    """``python -m streams score`` with its metrics port and its log."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.port, self.log = free_port(), log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams", "score"],
                env=child_env(settings, metrics_port=self.port, metrics_host="127.0.0.1"),
                cwd=ROOT,
                stderr=err,
            )

    def get(self, path: str) -> bytes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return bytes(r.read())
        except urllib.error.HTTPError as exc:  # 503: not ready, the checks in the body
            return bytes(exc.read())
        except OSError:
            return b"{}"

    def ready(self) -> dict[str, bool]:
        return readyz(self.port)

    def metric(self, name: str) -> float:
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(60)


@pytest.fixture()
def settings(real_broker: RealBroker, tmp_path: Path) -> Iterator[Settings]:
    models = tmp_path / "models"
    models.mkdir()
    copy_version(models, "v1")
    (models / "CURRENT").write_text("v1\n")
    yield isolated_settings(
        real_broker.bootstrap,
        topic_partitions=3,
        model_dir=models,
        model_reload_s=0.5,
        transaction_timeout_ms=10_000,  # a record for a deleted topic waits this long
        delivery_backoff_max_s=1.0,
    )


def _events(seed: int, count: int) -> list[Record]:
    config = GeneratorConfig(seed=seed, count=count, messy=MessySpec(0.2))
    return [r for r in generate(config) if r.topic == "events"]


def _scored_up_to(settings: Settings) -> bool:
    done = committed_total(settings, settings.scorer_group_id, settings.topic_events)
    return done >= end_total(settings, settings.topic_events)


def _check_outputs(settings: Settings, sent: list[Record]) -> None:
    """Every valid event once in scores, every invalid one once in the DLQ, its bytes."""
    scores = read_topic(settings, settings.topic_scores)
    got = Counter(orjson.loads(r.value or b"")["event_id"] for r in scores)
    assert got == Counter(orjson.loads(r.value)["event_id"] for r in sent if r.valid)
    dead = Counter(r.value or b"" for r in read_topic(settings, settings.topic_dlq))
    assert dead == Counter(r.value or b"" for r in sent if not r.valid)


def test_a_dlq_deleted_then_recreated_is_waited_out(settings: Settings, tmp_path: Path) -> None:
    scorer = Scorer(settings, tmp_path / "scorer.log")
    admin = AdminClient(librdkafka_config(settings))
    try:
        before = _events(71, 1_000)
        write_records(settings, before, 0)
        wait_for(lambda: _scored_up_to(settings), 90, "the first events scored")
        admin.delete_topics([settings.topic_dlq])[settings.topic_dlq].result(30)
        wait_for(lambda: topic_partitions(settings, settings.topic_dlq) == 0, 30, "deleted")
        during = _events(72, 1_000)
        write_records(settings, during, 0)
        wait_for(lambda: scorer.ready().get("outputs_committing") is False, 90, "readyz false")
        assert scorer.metric("streamscore_delivery_failures") > 0
        assert not _scored_up_to(settings)  # its invalid events have nowhere to go
        retrying = "outputs not delivered; retrying"  # logged from the second abort in a row
        wait_for(lambda: retrying in scorer.log.read_text(), 90, "the retry logged")
        # re-created as it was (a deleted topic's name may be refused for a moment)
        wait_for(lambda: _recreated(settings), 60, "the DLQ re-created")
        wait_for(lambda: _scored_up_to(settings), 120, "the scorer to recover by itself")
        wait_for(lambda: all(scorer.ready().values()), 60, "ready again")
        assert scorer.proc.poll() is None  # it never exited
    finally:
        scorer.stop()
    # what was dead-lettered before the deletion went with the topic
    _check_outputs(settings, [r for r in before if r.valid] + during)


def _recreated(settings: Settings) -> bool:
    try:
        ensure_topics(settings, [settings.topic_dlq], partitions=3)
        return True
    except BrokerError:  # the broker still deleting it: tried again
        return False


def _set_max_message_bytes(settings: Settings, topic: str, value: int) -> None:
    op = AlterConfigOpType.SET
    entry = ConfigEntry("max.message.bytes", str(value), incremental_operation=op)
    resource = ConfigResource("topic", topic, incremental_configs=[entry])
    admin = AdminClient(librdkafka_config(settings))
    admin.incremental_alter_configs([resource])[resource].result(30)


def test_a_dlq_refusing_writes_then_fixed_is_waited_out(settings: Settings, tmp_path: Path) -> None:
    # every dead letter is larger (its error headers alone), the transaction markers not
    _set_max_message_bytes(settings, settings.topic_dlq, 256)
    scorer = Scorer(settings, tmp_path / "scorer.log")
    try:
        sent = _events(73, 1_000)
        write_records(settings, sent, 0)
        wait_for(lambda: scorer.ready().get("outputs_committing") is False, 90, "readyz false")
        assert not _scored_up_to(settings)
        _set_max_message_bytes(settings, settings.topic_dlq, 1_048_588)  # Kafka's default
        wait_for(lambda: _scored_up_to(settings), 120, "the scorer to recover by itself")
        assert scorer.proc.poll() is None
    finally:
        scorer.stop()
    _check_outputs(settings, sent)


def test_models_emptied_or_corrupted_keep_the_loaded_model(
    settings: Settings, tmp_path: Path
) -> None:
    models = settings.model_dir
    scorer = Scorer(settings, tmp_path / "scorer.log")

    def versions_of(sent: list[Record]) -> set[str]:
        ids = {orjson.loads(r.value)["event_id"] for r in sent if r.valid}
        scores = [orjson.loads(r.value or b"") for r in read_topic(settings, settings.topic_scores)]
        return {s["model_version"] for s in scores if s["event_id"] in ids}

    def score(seed: int) -> set[str]:
        sent = [r for r in _events(seed, 300) if r.valid]
        write_records(settings, sent, 0)
        wait_for(lambda: _scored_up_to(settings), 90, "scored")
        return versions_of(sent)

    try:
        assert score(81) == {"v1"}
        corrupt = copy_version(models, "v2")
        for f in corrupt.glob("*.txt"):
            f.write_bytes(b"not a model")
        (models / "CURRENT").write_text("v2\n")
        wait_for(lambda: "model not (re)loaded" in scorer.log.read_text(), 60, "the refusal")
        refused = "streamscore_model_reloads_refused_total"
        assert scorer.metric(refused) >= 1
        assert score(82) == {"v1"}
        (models / "CURRENT").write_text("v9\n")  # a version that is not there
        assert score(83) == {"v1"}
        for path in models.iterdir():  # models/ emptied
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        counted = scorer.metric(refused)
        assert score(84) == {"v1"}
        wait_for(lambda: scorer.metric(refused) > counted, 60, "each check counted")
        assert scorer.ready().get("model_loaded") is True  # it scores with a checked model
        copy_version(models, "v3")
        (models / "CURRENT").write_text("v3\n")
        loaded = '"message":"models loaded","version":"v3"'
        wait_for(lambda: loaded in scorer.log.read_text(), 90, "the fixed version loaded")
        assert score(85) == {"v3"}
        assert scorer.proc.poll() is None
    finally:
        scorer.stop()
