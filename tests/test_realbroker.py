"""The real Kafka broker from streams/dev/realbroker.py: topics, keyed partitioning, transactions,
clean stop; plus a fast check that a complete jar cache is reused without Maven."""

from __future__ import annotations

import socket
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from streams.dev.realbroker import CACHE_MARKER, RealBroker, _cluster_id, fetch_jars
from streams.errors import BrokerError

_DEADLINE_S = 60.0


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _consume(bootstrap: str, topic: str, want: int, **extra: str) -> list[tuple[str, str, int]]:
    """(key, value, partition) of the first ``want`` records of ``topic``, read from the start
    by a fresh consumer group; returns early with fewer if the deadline passes."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": _name("g"),
            "auto.offset.reset": "earliest",
            **extra,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[str, str, int]] = []
    deadline = time.monotonic() + _DEADLINE_S
    try:
        while len(got) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            key, value, partition = msg.key() or b"", msg.value(), msg.partition()
            assert value is not None and partition is not None
            got.append((key.decode(), value.decode(), partition))
    finally:
        consumer.close()
    return got


@pytest.mark.realbroker
def test_keyed_messages_round_trip_through_three_partitions(real_broker: RealBroker) -> None:
    topic = _name("keyed")
    real_broker.create_topics([topic], partitions=3)
    real_broker.create_topics([topic], partitions=3)  # already exists: no error
    producer = Producer({"bootstrap.servers": real_broker.bootstrap})
    for i in range(100):
        producer.produce(topic, key=f"k{i % 10}", value=f"v{i}")
    assert producer.flush(_DEADLINE_S) == 0

    got = _consume(real_broker.bootstrap, topic, want=100)

    assert sorted(v for _, v, _ in got) == sorted(f"v{i}" for i in range(100))
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for key, _, partition in got:
        partitions_of[key].add(partition)
    assert all(len(p) == 1 for p in partitions_of.values()), partitions_of
    assert {p for ps in partitions_of.values() for p in ps} <= {0, 1, 2}
    assert len({p for ps in partitions_of.values() for p in ps}) > 1  # keys spread out


@pytest.mark.realbroker
def test_read_committed_sees_committed_transactions_only(real_broker: RealBroker) -> None:
    topic = _name("txn")
    real_broker.create_topics([topic], partitions=1)
    producer = Producer(
        {"bootstrap.servers": real_broker.bootstrap, "transactional.id": _name("tx")}
    )
    producer.init_transactions(_DEADLINE_S)
    for batch, commit in (("c1", True), ("aborted", False), ("c2", True)):
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, value=f"{batch}-{i}")
        producer.flush(_DEADLINE_S)
        if commit:
            producer.commit_transaction(_DEADLINE_S)
        else:
            producer.abort_transaction(_DEADLINE_S)

    # The aborted records sit before c2 in the only partition, so reading up to the
    # last committed record would have shown them if read_committed leaked them.
    got = _consume(real_broker.bootstrap, topic, want=10, **{"isolation.level": "read_committed"})

    assert [v for _, v, _ in got] == [f"c{t}-{i}" for t in (1, 2) for i in range(5)]


@pytest.mark.realbroker
def test_stop_is_idempotent_and_closes_the_port() -> None:
    broker = RealBroker()
    bootstrap = broker.start()
    assert broker.start() == bootstrap  # idempotent too
    data_dir = broker.data_dir
    assert data_dir.is_dir()
    host, port = bootstrap.rsplit(":", 1)

    broker.stop()
    broker.stop()

    assert not data_dir.exists()
    assert not broker.running
    with pytest.raises(BrokerError):
        _ = broker.bootstrap
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=5):
        pass


def test_fetch_jars_reuses_a_complete_cache_without_maven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / CACHE_MARKER).write_text("done\n")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no mvn to run

    assert fetch_jars(libs) == libs


def test_fetch_jars_without_maven_raises_and_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    libs = tmp_path / "cache" / "libs"

    with pytest.raises(BrokerError, match="mvn"):
        fetch_jars(libs)

    assert list((tmp_path / "cache").iterdir()) == []


def test_cluster_ids_never_start_with_a_dash() -> None:
    # a leading "-" made kafka-storage read the id as an option (1 start in 64 failed)
    ids = [_cluster_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


@pytest.mark.realbroker
def test_a_broker_with_a_home_restarts_on_its_data_and_address(tmp_path: Path) -> None:
    home = tmp_path / "kafka"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    broker = RealBroker(home=home, port=port)
    try:
        bootstrap = broker.start()
        assert bootstrap == f"127.0.0.1:{port}"
        topic = _name("kept")
        broker.create_topics([topic], partitions=2)
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(50):
            producer.produce(topic, key=f"k{i}", value=f"before-{i}")
        assert producer.flush(_DEADLINE_S) == 0
        del producer
        for kill in (True, False):  # SIGKILL, then SIGTERM: the same data, the same address
            assert broker.restart(kill=kill) == bootstrap
            got = _consume(bootstrap, topic, 50)
            assert sorted(v for _, v, _ in got) == sorted(f"before-{i}" for i in range(50))
        assert (home / "data" / "meta.properties").is_file()
    finally:
        broker.stop()
    assert (home / "data").is_dir()  # a home is kept
    with pytest.raises(BrokerError, match="not 1"):
        RealBroker(home=home, port=1).start()  # a home keeps its port
