"""The scorer on the real Apache Kafka broker: exactly-once outputs, DLQ contents,
a SIGKILL mid-stream with restart, two scorers sharing a group, and a rebalance
while commits are in flight."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from helpers import (
    FULL_EVENT,
    KCAT_HEADERS,
    check_dead_letter,
    child_env,
    isolated_settings,
    wait_for,
)
from prometheus_client import CollectorRegistry

from streams.cli import main
from streams.config import Settings
from streams.contract.dead_letters import H_OFFSET, H_REASON, H_REPLAYED_FROM, H_TOPIC
from streams.contract.records import InRecord, header
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, Record, generate
from streams.dev.messy import MessySpec
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, ensure_topics, make_producer, read_topic
from streams.scoring.factory import build_scorer
from streams.scoring.scorer import Scorer

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_REASON = {
    "missing_required": "missing_field",
    "null_required": "missing_field",
    "wrong_type": "wrong_type",
    "out_of_range": "out_of_range",
    "malformed_json": "malformed_json",
    "not_utf8": "not_utf8",
    "empty_payload": "empty_payload",
}


@pytest.fixture()
def settings(real_broker: RealBroker) -> Settings:
    """Fresh topics and group per test, so tests never see each other's records."""
    return isolated_settings(
        real_broker.bootstrap, topic_partitions=4, scorer_instance_id="a",
        transaction_timeout_ms=10_000,
    )  # fmt: skip


def _events(count: int, seed: int, fraction: float = 0.2) -> list[Record]:
    config = GeneratorConfig(seed=seed, count=count, messy=MessySpec(fraction))
    return [r for r in generate(config) if r.topic == "events"]


def _run_thread(
    settings: Settings, stop: threading.Event, name: str = "scorer"
) -> tuple[threading.Thread, Scorer]:
    scorer = build_scorer(settings, CollectorRegistry(), exactly_once=True)
    thread = threading.Thread(target=scorer.run, args=(stop,), name=name, daemon=True)
    thread.start()
    return thread, scorer


def _check_outputs(settings: Settings, sent: list[Record]) -> None:
    """read_committed: exactly one score per valid event, one DLQ record per invalid one."""
    scores = read_topic(settings, settings.topic_scores)
    dlq = read_topic(settings, settings.topic_dlq)
    valid_ids = Counter(orjson.loads(r.value)["event_id"] for r in sent if r.valid)
    score_ids = Counter(orjson.loads(r.value or b"")["event_id"] for r in scores)
    assert score_ids == valid_ids  # no loss, no duplicate
    for rec in scores[:200]:
        assert validator("score").is_valid(orjson.loads(rec.value or b""))
    invalid = Counter((r.value, EXPECTED_REASON[r.messy_kind or ""]) for r in sent if not r.valid)
    got = Counter((r.value or b"", header(r.headers, H_REASON)) for r in dlq)
    assert got == invalid  # byte-identical originals, right reason, once each
    assert all(header(r.headers, H_TOPIC) == settings.topic_events for r in dlq)
    assert all(int(header(r.headers, H_OFFSET) or -1) >= 0 for r in dlq)


def test_exactly_one_output_per_event(settings: Settings) -> None:
    sent = _events(6_000, seed=21)
    stop = threading.Event()
    thread, scorer = _run_thread(settings, stop)
    stats = scorer.stats
    write_records(settings, sent, rate=0)
    wait_for(
        lambda: (
            committed_total(settings, settings.scorer_group_id, settings.topic_events) == len(sent)
        ),
        90,
        "every event committed",
    )
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert stats.consumed == len(sent)
    assert sum(stats.dead_letters.values()) == sum(not r.valid for r in sent)
    _check_outputs(settings, sent)


def _scorer_process(settings: Settings) -> subprocess.Popen[bytes]:
    # many small transactions, so the kill lands mid-stream
    env = child_env(settings, batch_max_size=200)
    return subprocess.Popen([sys.executable, "-m", "streams", "score"], env=env, cwd=ROOT)


def test_sigkill_mid_stream_loses_and_duplicates_nothing(settings: Settings) -> None:
    sent = _events(20_000, seed=33, fraction=0.05)
    writer = threading.Thread(target=write_records, args=(settings, sent, 4_000.0), daemon=True)
    writer.start()
    first = _scorer_process(settings)
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    wait_for(lambda: done() > 2_000, 90, "the first scorer to commit some batches")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_at = done()
    assert killed_at < len(sent), "kill came too late to be mid-stream"
    second = _scorer_process(settings)  # same instance id: fences the dead one's transaction
    try:
        writer.join(60)
        wait_for(lambda: done() == len(sent), 120, "the restarted scorer to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0  # SIGTERM: finish the batch, commit, exit 0
    _check_outputs(settings, sent)


def test_two_scorers_share_the_partitions(settings: Settings) -> None:
    sent = _events(8_000, seed=44)
    stop = threading.Event()
    t1, a = _run_thread(settings, stop)
    t2, b = _run_thread(settings.model_copy(update={"scorer_instance_id": "b"}), stop)
    s1, s2 = a.stats, b.stats
    # both in the group before any event exists, so neither can drain the topic alone
    wait_for(lambda: bool(a.io.assigned) and bool(b.io.assigned), 60, "both to get partitions")
    write_records(settings, sent, rate=0)
    wait_for(lambda: s1.consumed + s2.consumed >= len(sent), 90, "both scorers to drain")
    wait_for(
        lambda: (
            committed_total(settings, settings.scorer_group_id, settings.topic_events) == len(sent)
        ),
        30,
        "every event committed",
    )
    stop.set()
    t1.join(30)
    t2.join(30)
    assert s1.consumed > 0 and s2.consumed > 0
    _check_outputs(settings, sent)


def test_rebalance_while_a_commit_is_in_flight_loses_and_duplicates_nothing(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A second scorer joins, and later leaves, while the first one's overlapped
    commits (the default) run: partitions are revoked from under a sent batch."""
    caplog.set_level(logging.INFO, logger="streams.kafka.batch")
    # Batches of 10 come in every 2.5 ms, faster than a transaction commits (6-10 ms):
    # the scorer stays behind, every batch is full and is scored while the last one
    # commits, so every poll (where a revoke is served) has a commit in flight. With
    # batches that do not fill, the scorer tops a batch up after the commit settled,
    # and a revoke served there has nothing pending: the path under test is skipped.
    settings = settings.model_copy(update={"batch_max_size": 10})
    sent = _events(16_000, seed=66, fraction=0.05)
    writer = threading.Thread(target=write_records, args=(settings, sent, 4_000.0), daemon=True)
    stop_a, stop_b = threading.Event(), threading.Event()
    t_a, a = _run_thread(settings, stop_a, "scorer-a")
    wait_for(lambda: bool(a.io.assigned), 60, "the first scorer to get partitions")
    writer.start()
    done = lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)  # noqa: E731
    wait_for(lambda: done() > 2_000, 90, "the first scorer to commit some batches")
    b_settings = settings.model_copy(update={"scorer_instance_id": "b"})
    t_b, b = _run_thread(b_settings, stop_b, "scorer-b")
    wait_for(lambda: b.stats.consumed > 1_000, 90, "the second scorer to take partitions")
    assert done() < len(sent), "the second scorer joined too late to be mid-stream"
    stop_b.set()  # leaves the group: its partitions go back to the first scorer
    t_b.join(30)
    assert not t_b.is_alive()
    writer.join(60)
    wait_for(lambda: done() == len(sent), 120, "every event committed")
    stop_a.set()
    t_a.join(30)
    assert not t_a.is_alive()
    revokes = [r for r in caplog.records if r.getMessage() == "partitions revoked"]
    revoked = [r for r in revokes if r.threadName == "scorer-a"]
    # the path under test ran: a revoke came while a sent batch's commit was unsettled
    assert any(getattr(r, "commit_pending", False) for r in revoked), revoked
    # the revoke waited for that commit, so it ended in the old generation: no abort
    assert (a.stats.aborted, b.stats.aborted) == (0, 0)
    _check_outputs(settings, sent)


def test_dlq_replay_republishes_selected_dead_letters(settings: Settings) -> None:
    sent = _events(2_000, seed=55, fraction=0.3)
    stop = threading.Event()
    thread, _scorer = _run_thread(settings, stop)
    write_records(settings, sent, rate=0)
    wait_for(lambda: committed_total(settings, settings.scorer_group_id, settings.topic_events)
             == len(sent), 90, "every event committed")  # fmt: skip
    stop.set()
    thread.join(30)
    target = settings.topic_events + ".replayed"
    ensure_topics(settings, [target])
    flags = ["--bootstrap-servers", settings.bootstrap_servers, "--topic-dlq", settings.topic_dlq]
    assert main(["dlq", "replay", *flags, "--reason", "not_utf8", "--to-topic", target]) == 0
    replayed = read_topic(settings, target)
    expected = Counter(r.value for r in sent if r.messy_kind == "not_utf8")
    assert expected and Counter(r.value for r in replayed) == expected  # byte-identical
    assert all(header(r.headers, "__streamscore.replayed.from") for r in replayed)


def _committed(s: Settings) -> int:
    return committed_total(s, s.scorer_group_id, s.topic_events)


def _marker(dead: InRecord) -> tuple[str, bytes]:
    o = dead.origin
    return (H_REPLAYED_FROM, f"{o.topic}/{o.partition}/{o.offset}".encode())


def test_dead_letters_keep_headers_and_timestamp_and_replays_restore_them(
    settings: Settings,
) -> None:
    s = settings
    t = int(time.time() * 1000) - 3_600_000  # an hour ago: not when anything is written
    sent = {b"headers": (b'{"amount": "12.50"}', KCAT_HEADERS, t), b"none": (b"{bad", [], t + 1)}
    producer = make_producer(s)
    for key, (value, headers, ts) in sent.items():
        producer.produce(s.topic_events, value, key, headers=headers or None, timestamp=ts)
    producer.produce(s.topic_events, orjson.dumps(FULL_EVENT), b"ok", headers=KCAT_HEADERS)
    assert producer.flush(30) == 0
    started = int(time.time() * 1000)
    stop = threading.Event()
    thread, _scorer = _run_thread(s, stop)
    flags = ["--bootstrap-servers", s.bootstrap_servers, "--topic-dlq", s.topic_dlq]
    try:
        wait_for(lambda: _committed(s) == 3, 90, "the three events")
        written = range(started, int(time.time() * 1000) + 1)
        first = {r.key: r for r in read_topic(s, s.topic_dlq)}
        assert set(first) == set(sent)  # the valid one was scored
        for key, (_value, headers, ts) in sent.items():
            check_dead_letter(first[key], headers, ts, written)
        assert main(["dlq", "replay", *flags]) == 0  # back to events: rejected again
        wait_for(lambda: _committed(s) == 5, 90, "the replayed events")
    finally:
        stop.set()
        thread.join(30)
    replayed = [r for r in read_topic(s, s.topic_events) if header(r.headers, H_REPLAYED_FROM)]
    assert sorted((r.key, r.value, r.headers, r.origin.timestamp_ms) for r in replayed) == sorted(
        (k, v, [*h, _marker(first[k])], ts) for k, (v, h, ts) in sent.items()
    )
    again = [r for r in read_topic(s, s.topic_dlq) if header(r.headers, H_REPLAYED_FROM)]
    assert sorted(r.key for r in again) == sorted(sent)
    for dead in again:
        _value, headers, ts = sent[dead.key or b""]
        check_dead_letter(
            dead, [*headers, _marker(first[dead.key or b""])], ts, range(started, 2**62)
        )
    target = s.topic_events + ".replayed"
    ensure_topics(s, [target])
    assert main(["dlq", "replay", *flags, "--to-topic", target]) == 0
    out = read_topic(s, target)  # each dead letter once more: its original, one marker
    expected = [(d.key, d.value, [*sent[d.key or b""][1], _marker(d)], sent[d.key or b""][2])
                for d in [*first.values(), *again]]  # fmt: skip
    got = [(r.key, r.value, r.headers, r.origin.timestamp_ms) for r in out]
    assert sorted(got) == sorted(expected)
