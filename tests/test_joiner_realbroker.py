"""The faust joiner on the real Apache Kafka broker: arrival orders, corrections,
duplicates, unknown ids, expiry and state size, invalid feedback, co-partitioning,
and recovery of state from the changelog after SIGKILL."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import KafkaException
from helpers import (
    KCAT_HEADERS,
    NOT_LED,
    check_dead_letter,
    child_env,
    isolated_settings,
    wait_for,
)

from streams.cli import main
from streams.config import Settings
from streams.contract.dead_letters import H_REASON, H_REPLAYED_FROM
from streams.contract.partitioner import partition_for
from streams.contract.records import header
from streams.contract.schemas import validator
from streams.dev.realbroker import RealBroker
from streams.errors import ConfigError
from streams.feedback.app import changelog_topic, check_copartitioned
from streams.feedback.background import BackgroundJoiner
from streams.feedback.examples import feedback_record, score_record
from streams.kafka import (
    committed_total,
    end_total,
    ensure_topics,
    make_producer,
    read_topic,
    watermarks,
)
from streams.kafka.runtime import require_topics

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 3
RETENTION_MS = 60_000
T0 = 1_767_225_600_000


@pytest.fixture()
def settings(real_broker: RealBroker, tmp_path: Path) -> Settings:
    return isolated_settings(
        real_broker.bootstrap, topic_partitions=PARTITIONS, joiner_store="memory://",
        joiner_data_dir=tmp_path / "joiner", join_retention_ms=RETENTION_MS,
    )  # fmt: skip


def _send(settings: Settings, records: list[tuple[str, bytes, bytes, int | None]]) -> None:
    """(topic, key, value, partition or None) in order, each confirmed."""
    producer = make_producer(settings)
    for topic, key, value, partition in records:
        kwargs = {} if partition is None else {"partition": partition}
        producer.produce(topic, value=value, key=key, **kwargs)
    assert producer.flush(30) == 0


def _score(s: Settings, eid: str, t: int, partition: int | None = None) -> tuple:
    return (s.topic_scores, eid.encode(), orjson.dumps(score_record(eid, t, score=0.4)), partition)


def _fb(s: Settings, eid: str, label: int, t: int, fid: str | None = None) -> tuple:
    value = orjson.dumps(feedback_record(eid, label, t, fid))
    return (s.topic_feedback, eid.encode(), value, None)


@pytest.fixture()
def joiner(settings: Settings) -> Iterator[BackgroundJoiner]:
    with BackgroundJoiner(settings, PARTITIONS) as j:
        yield j


def _handled(j: BackgroundJoiner) -> int:
    assert j.processor is not None
    return sum(j.processor.handled.values())


def test_join_outcomes_land_where_they_should(settings: Settings, joiner: BackgroundJoiner) -> None:
    s = settings
    records = [
        _score(s, "score-first", T0), _fb(s, "score-first", 1, T0 + 10),
        _fb(s, "feedback-first", 0, T0 + 20), _score(s, "feedback-first", T0 + 5),
        _score(s, "dup", T0),
        _fb(s, "dup", 1, T0 + 30, "fb-dup"), _fb(s, "dup", 1, T0 + 30, "fb-dup"),
        _score(s, "fix", T0), _fb(s, "fix", 1, T0 + 40), _fb(s, "fix", 0, T0 + 50),
        _fb(s, "ghost", 1, T0 + 60),
        (s.topic_feedback, b"bad", b'{"event_id": "bad", "label": "yes"}', None),
        (s.topic_feedback, b"junk", b"\xff not json", None),
    ]  # fmt: skip
    _send(s, records)
    wait_for(lambda: _handled(joiner) == len(records), 60, "the joiner to take every record")
    # move every partition's event-time clock past retention: the ghost's wait ends
    _send(s, [_score(s, f"tick-{p}", T0 + 2 * RETENTION_MS, p) for p in range(PARTITIONS)])
    wait_for(lambda: _handled(joiner) == len(records) + PARTITIONS, 60, "the ticks")
    joiner.stop()

    # at least once: a record read again after a rebalance emits its labelled record
    # again, byte-identical; the distinct records are what the join made
    distinct = dict.fromkeys(r.value or b"" for r in read_topic(s, s.topic_labelled))
    labelled = [orjson.loads(value) for value in distinct]
    assert all(validator("labelled").is_valid(v) for v in labelled)
    by_id: dict[str, list[dict]] = {}
    for v in labelled:
        by_id.setdefault(v["event_id"], []).append(v)
    assert [v["label"] for v in by_id["score-first"]] == [1]
    assert [v["label"] for v in by_id["feedback-first"]] == [0]
    assert len(by_id["dup"]) == 1  # the same feedback twice is not a second record
    assert joiner.processor is not None and joiner.processor.join.counts.duplicates >= 1
    assert [(v["label"], v["correction"]) for v in by_id["fix"]] == [(1, False), (0, True)]
    assert "ghost" not in by_id
    unmatched = [orjson.loads(r.value or b"") for r in read_topic(s, s.topic_feedback_unmatched)]
    assert [(u["event_id"], u["reason"]) for u in unmatched] == [("ghost", "no_matching_score")]
    assert validator("feedback_unmatched").is_valid(unmatched[0])
    dlq = read_topic(s, s.topic_feedback_dlq)
    assert sorted((r.value, header(r.headers, H_REASON)) for r in dlq) == sorted(
        [(b'{"event_id": "bad", "label": "yes"}', "missing_field"), (b"\xff not json", "not_utf8")]
    )


def test_feedback_dead_letters_keep_headers_and_timestamp_and_replay_restores_them(
    settings: Settings, joiner: BackgroundJoiner
) -> None:
    s = settings
    t = int(time.time() * 1000) - 3_600_000  # an hour ago: not when anything is written
    null_label = orjson.dumps({**feedback_record("headers", 1, T0), "label": None})
    sent = {b"headers": (null_label, KCAT_HEADERS, t), b"none": (b"\xff not json", [], t + 1)}
    producer = make_producer(s)
    started = int(time.time() * 1000)  # the joiner runs already
    for key, (value, headers, ts) in sent.items():
        producer.produce(s.topic_feedback, value, key, headers=headers or None, timestamp=ts)
    assert producer.flush(30) == 0
    wait_for(lambda: _handled(joiner) == len(sent), 60, "the joiner to take both")
    joiner.stop()
    written = range(started, int(time.time() * 1000) + 1)
    dead = {r.key: r for r in read_topic(s, s.topic_feedback_dlq)}
    assert set(dead) == set(sent)
    for key, (_value, headers, ts) in sent.items():
        check_dead_letter(dead[key], headers, ts, written)
    assert header(dead[b"headers"].headers, H_REASON) == "missing_field"  # as a null in events
    target = s.topic_feedback + ".replayed"
    ensure_topics(s, [target])
    flags = ["--bootstrap-servers", s.bootstrap_servers, "--dlq-topic", s.topic_feedback_dlq]
    assert main(["dlq", "replay", *flags, "--to-topic", target]) == 0
    got = [(r.key, r.value, r.headers, r.origin.timestamp_ms) for r in read_topic(s, target)]
    where = {
        k: f"{s.topic_feedback_dlq}/{d.origin.partition}/{d.origin.offset}" for k, d in dead.items()
    }
    expected = [
        (k, v, [*h, (H_REPLAYED_FROM, where[k].encode())], ts) for k, (v, h, ts) in sent.items()
    ]
    assert sorted(got) == sorted(expected)


def test_state_shrinks_after_retention(settings: Settings, joiner: BackgroundJoiner) -> None:
    s = settings
    assert joiner.processor is not None
    _send(s, [_score(s, f"e{i}", T0 + i) for i in range(600)])
    wait_for(lambda: _handled(joiner) == 600, 60, "600 scores")
    before = len(joiner.processor.join)
    # past retention: the scores expire, each leaving a marker for one more retention
    _send(s, [_score(s, f"tick-{p}", T0 + 2 * RETENTION_MS, p) for p in range(PARTITIONS)])
    wait_for(lambda: _handled(joiner) == 600 + PARTITIONS, 60, "the ticks")
    markers = len(joiner.processor.join)
    assert joiner.processor.join.counts.expired == 600
    # past two retentions the markers go too; the first ticks expire with them
    _send(s, [_score(s, f"tock-{p}", T0 + 9 * RETENTION_MS, p) for p in range(PARTITIONS)])
    wait_for(lambda: _handled(joiner) == 600 + 2 * PARTITIONS, 60, "the tocks")
    after = len(joiner.processor.join)
    assert (before, markers, after) == (600, 600 + PARTITIONS, PARTITIONS)


def test_inputs_must_be_copartitioned(settings: Settings) -> None:
    s = settings.model_copy(update={"topic_feedback": settings.topic_feedback + ".wide"})
    ensure_topics(s, [s.topic_feedback], partitions=PARTITIONS + 2)
    with pytest.raises(ConfigError, match="not co-partitioned"):
        check_copartitioned(require_topics(s, [s.topic_scores, s.topic_feedback]))


def _joiner_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = child_env(settings)
    return subprocess.Popen([sys.executable, "-m", "streams", "join"], env=env, cwd=ROOT)


def _records_in(s: Settings, topic: str) -> int:
    """:func:`end_total` of ``topic``; 0 while the topic has no partition leaders yet
    (the joiner creates its changelog as it starts: the broker lists the topic a moment
    before its partitions can answer)."""
    try:
        return end_total(s, topic)
    except KafkaException as exc:
        if exc.args[0].code() in NOT_LED:
            return 0
        raise


def test_sigkill_then_restart_restores_state_from_the_changelog(settings: Settings) -> None:
    s = settings
    first = _joiner_process(s)
    try:
        _send(s, [_score(s, "survivor", T0)])
        changelog = changelog_topic(s)
        wait_for(lambda: _records_in(s, changelog) >= 1, 60, "the score to reach the changelog")
        # the input offset is committed too, so the restarted joiner cannot re-read the
        # score from `scores`: only the changelog can give it back
        wait_for(
            lambda: committed_total(s, s.joiner_group_id, s.topic_scores) == 1,
            60,
            "the joiner to commit the score's offset",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = _joiner_process(s)
    try:
        _send(s, [_fb(s, "survivor", 1, T0 + 99)])
        wait_for(
            lambda: end_total(s, s.topic_labelled) >= 1,
            90,
            "a labelled record after the restart",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    records = read_topic(s, s.topic_labelled)
    labelled = [orjson.loads(r.value or b"") for r in records]
    # at least once: a feedback read again (a rebalance before its offset was committed)
    # is emitted again, byte-identical
    assert {(v["event_id"], v["label"], v["score"]) for v in labelled} == {("survivor", 1, 0.4)}
    assert len({r.value for r in records}) == 1


def test_rocksdb_store_joins_and_keeps_state_on_disk(settings: Settings, tmp_path: Path) -> None:
    s = settings.model_copy(update={"joiner_store": "rocksdb://", "joiner_data_dir": tmp_path})
    with BackgroundJoiner(s, PARTITIONS) as joiner:
        _send(s, [_score(s, "r1", T0), _fb(s, "r1", 1, T0 + 5)])
        wait_for(lambda: _handled(joiner) == 2, 60, "both records")
    labelled = [orjson.loads(r.value or b"") for r in read_topic(s, s.topic_labelled)]
    assert [(v["event_id"], v["label"]) for v in labelled] == [("r1", 1)]
    assert any(p.is_dir() for p in tmp_path.rglob("*join_state*"))  # RocksDB files on disk


def test_commits_keep_up_with_a_transactional_scores_topic(
    settings: Settings, joiner: BackgroundJoiner
) -> None:
    # one transaction per score, as a scorer at a low rate writes them: a commit
    # marker after every record of `scores`, the gaps faust has to commit past
    producer = make_producer(settings, **{"transactional.id": f"{settings.scorer_group_id}-tx"})
    producer.init_transactions(30)
    n = 300
    for i in range(n):
        producer.begin_transaction()
        topic, key, value, _ = _score(settings, f"tx{i}", T0 + i)
        producer.produce(topic, value=value, key=key)
        producer.commit_transaction(30)
    wait_for(lambda: _handled(joiner) == n, 60, "every score handled")
    # a record and its marker per transaction; the last marker of a partition is only
    # passed when a record follows it, so the joiner can commit up to end - 1
    ends = watermarks(settings, settings.topic_scores)
    assert sum(high for _, high in ends.values()) == 2 * n
    last = sum(high - 1 for _, high in ends.values() if high > 0)
    # faust commits every few seconds; before the gap fix, each commit moved one
    # transaction per partition (~100 per partition here: minutes)
    wait_for(
        lambda: committed_total(settings, settings.joiner_group_id, settings.topic_scores) == last,
        30,
        "the joiner's offsets committed past every marker",
    )


def test_feedback_from_librdkafkas_default_partitioner_is_rerouted_and_joined(
    settings: Settings, joiner: BackgroundJoiner
) -> None:
    s = settings
    ids = [f"crc-{i}" for i in range(30)]
    _send(s, [_score(s, eid, T0) for eid in ids])  # streamscore's producer: murmur2
    # librdkafka's default partitioner (CRC32), as a plain confluent-kafka producer has it
    producer = make_producer(s, partitioner="consistent_random")
    for eid in ids:
        producer.produce(s.topic_feedback, key=eid.encode(), value=_fb(s, eid, 1, T0 + 7)[2])
    assert producer.flush(30) == 0
    wait_for(lambda: end_total(s, s.topic_labelled) >= len(ids), 60, "every feedback joined")
    joiner.stop()
    labelled = [orjson.loads(r.value or b"") for r in read_topic(s, s.topic_labelled)]
    assert sorted(v["event_id"] for v in labelled) == sorted(ids)
    assert joiner.processor is not None
    placed = read_topic(s, s.topic_feedback)
    originals = [r for r in placed if not r.headers]
    wrong = [
        r.key for r in originals if r.origin.partition != partition_for(r.key or b"", PARTITIONS)
    ]
    assert wrong  # the two partitioners disagree on some of these keys
    assert dict(joiner.processor.misrouted) == {"reroute": len(wrong)}
    rerouted = [r for r in placed if r.headers]
    assert sorted(r.key for r in rerouted) == sorted(wrong)
    assert all(r.origin.partition == partition_for(r.key or b"", PARTITIONS) for r in rerouted)


def _metric(port: int, name: str) -> float | None:
    """A sample's value from the joiner's /metrics, or None while it is not served."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name + " ")]  # fmt: skip
    return values[0] if values else None


def test_join_counters_are_current_once_the_joiner_idles(settings: Settings) -> None:
    s = settings
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "streams", "join"], cwd=ROOT,
                            env=child_env(s, metrics_port=port))  # fmt: skip
    joined = 'streamscore_join_events_total{kind="joined"}'
    try:
        for burst in range(2):  # the last burst before an idle spell is what went unreported
            ids = [f"idle-{burst}-{i}" for i in range(25)]
            _send(s, [_score(s, eid, T0) for eid in ids] + [_fb(s, eid, 1, T0 + 1) for eid in ids])
            wait_for(lambda n=25 * (burst + 1): end_total(s, s.topic_labelled) >= n, 90,
                     "the burst joined")  # fmt: skip
        wait_for(lambda: _metric(port, joined) == 50, 10, "/metrics to count all 50 while idle")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def test_scores_of_an_aborted_transaction_are_never_joined(
    settings: Settings, joiner: BackgroundJoiner
) -> None:
    s = settings
    producer = make_producer(s, **{"transactional.id": f"{s.scorer_instance_id}-aborts"})
    producer.init_transactions(30)
    for score, commit in ((0.9, False), (0.1, True)):
        producer.begin_transaction()
        value = orjson.dumps(score_record("tx", T0, score=score))
        producer.produce(s.topic_scores, key=b"tx", value=value)
        assert producer.flush(30) == 0  # in the log, then aborted (abort alone purges it)
        producer.commit_transaction(30) if commit else producer.abort_transaction(30)
    _send(s, [_fb(s, "tx", 1, T0 + 10)])
    wait_for(lambda: end_total(s, s.topic_labelled) >= 1, 60, "the label")
    [labelled] = read_topic(s, s.topic_labelled)
    assert orjson.loads(labelled.value)["score"] == 0.1  # faust alone reads uncommitted: 0.9


def test_fausts_livelock_check_sees_the_batches(
    settings: Settings, joiner: BackgroundJoiner
) -> None:
    # faust logs "Stream has not started processing" for a partition with no stream
    # event on it; the batches go around its streams, so they tell its monitor
    s = settings
    _send(s, [_score(s, "lv", T0)])
    app = joiner._app
    assert app is not None
    home = partition_for(b"lv", PARTITIONS)

    def seen() -> set[int]:
        return {
            tp.partition for tp in app.monitor.stream_inbound_time if tp.topic == s.topic_scores
        }

    wait_for(lambda: seen() == {home}, 60, "the batch to reach faust's monitor")
