"""Operations on the real broker: consumer lag (also through a real Prometheus server),
readiness that follows the model, and the metrics port."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from helpers import child_env, free_port, isolated_settings, wait_for

from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import make_consumer
from streams.ops.http import ObservabilityServer
from streams.ops.lag import LagCollector, group_lag
from streams.ops.metrics import process_registry
from streams.scoring.factory import build_scorer

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def settings(real_broker: RealBroker) -> Settings:
    return isolated_settings(real_broker.bootstrap, topic_partitions=3, scorer_instance_id="ops")


def _produce(settings: Settings, count: int, seed: int) -> None:
    records = generate(GeneratorConfig(seed=seed, count=count))
    write_records(settings, (r for r in records if r.topic == "events"), rate=0)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_lag_before_and_after_commits(settings: Settings) -> None:
    _produce(settings, 300, seed=1)
    group, topic = settings.scorer_group_id, settings.topic_events
    rows = group_lag(settings, group, [topic], None)
    assert sum(r.lag for r in rows) == 300  # nothing committed yet: all of it is lag
    assert all(r.committed < 0 for r in rows)
    consumer = make_consumer(settings, group)
    partition = rows[0].partition
    consumer.commit(offsets=[TopicPartition(topic, partition, 40)], asynchronous=False)
    consumer.close()
    after = {r.partition: r for r in group_lag(settings, group, [topic], None)}
    assert after[partition].lag == after[partition].high - 40
    assert sum(r.lag for r in after.values()) == 300 - 40
    only = group_lag(settings, group, [topic], {(topic, partition)})
    assert [r.partition for r in only] == [partition]
    family = next(LagCollector(settings, group, [topic]).collect())
    assert sum(s.value for s in family.samples) == 260


def test_readiness_follows_the_model(settings: Settings, tmp_path: Path) -> None:
    s = settings.model_copy(update={"model_dir": tmp_path, "model_required": False,
                                    "model_reload_s": 0.5})  # fmt: skip
    registry = process_registry()
    scorer = build_scorer(s, registry, exactly_once=True)
    server = ObservabilityServer(0, registry, scorer.checks).start()

    def predictor(version: str, name: str) -> float | None:
        labels = {"version": version, "predictor": name}
        return registry.get_sample_value("streamscore_model_info", labels)

    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        assert _get(url + "/healthz")[0] == 200
        wait_for(lambda: json.loads(_get(url + "/readyz")[1]).get("partitions_assigned") is True,
               60, "partitions")  # fmt: skip
        code, body = _get(url + "/readyz")
        assert code == 503 and json.loads(body)["model_loaded"] is False  # fallback rules
        assert predictor("fallback-rules", "rules") == 1.0
        shutil.copytree(ROOT / "models" / "v1", tmp_path / "v1")
        (tmp_path / "CURRENT").write_text("v1\n")
        wait_for(lambda: _get(url + "/readyz")[0] == 200, 30, "the model to be picked up")
        assert json.loads(_get(url + "/readyz")[1]) == {
            "partitions_assigned": True, "broker_reachable": True, "model_loaded": True,
            "outputs_committing": True,
        }  # fmt: skip
        # the metric is set just after the model goes in: wait for it to change
        wait_for(lambda: predictor("fallback-rules", "rules") is None, 30, "the model info")
        assert predictor("v1", "compiled") == 1.0  # predictor=auto, with gcc at hand
    finally:
        stop.set()
        thread.join(30)
        server.stop()


@pytest.fixture()
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], str]]:
    """Start a real Prometheus scraping the given targets; yields a start function."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(targets: list[str]) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: streamscore\n    static_configs: [{{targets: {targets!r}}}]\n"
        )
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path}/tsdb",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _get(base + "/-/ready")[0] == 200 if _port_open(port) else False, 60,
               "prometheus")  # fmt: skip
        return base

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(30)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _query(base: str, expr: str) -> float | None:
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    result = json.loads(_get(url)[1])["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_sees_lag_rise_while_paused_and_fall_after(
    settings: Settings, prometheus: Callable[[list[str]], str]
) -> None:
    scorer_port, lag_port = free_port(), free_port()
    scorer = subprocess.Popen([sys.executable, "-m", "streams", "score"], cwd=ROOT,
                              env=child_env(settings, metrics_port=scorer_port))  # fmt: skip
    exporter = subprocess.Popen(
        [sys.executable, "-m", "streams", "lag", "--serve", str(lag_port)], cwd=ROOT,
        env=child_env(settings), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = prometheus([f"127.0.0.1:{scorer_port}", f"127.0.0.1:{lag_port}"])
        lag = f'sum(streamscore_consumer_lag{{instance="127.0.0.1:{lag_port}"}})'
        consumed = "sum(streamscore_events_consumed_total)"
        wait_for(lambda: _query(base, "sum(up)") == 2, 60, "both targets up")
        _produce(settings, 2_000, seed=2)
        wait_for(lambda: _query(base, consumed) == 2_000, 60, "the scorer to consume 2,000")
        wait_for(lambda: _query(base, lag) == 0, 30, "lag 0")
        scorer.send_signal(signal.SIGSTOP)  # paused: consumes nothing, commits nothing
        _produce(settings, 3_000, seed=3)
        wait_for(lambda: _query(base, lag) == 3_000, 30, "lag to rise to 3,000 while paused")
        scorer.send_signal(signal.SIGCONT)
        wait_for(lambda: _query(base, lag) == 0, 60, "lag to fall back to 0 after resuming")
        wait_for(lambda: _query(base, consumed) == 5_000, 30, "5,000 consumed in all")
        rate = _query(base, "sum(rate(streamscore_events_consumed_total[1m]))")
        assert rate is not None and rate > 0
    finally:
        scorer.send_signal(signal.SIGCONT)
        scorer.send_signal(signal.SIGTERM)
        exporter.send_signal(signal.SIGTERM)
        assert scorer.wait(30) == 0
        exporter.wait(30)
