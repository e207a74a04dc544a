"""Hostile input at volume through a scorer process on the real broker (issue 26, part 6):
20,000 hostile records (bench/junk.py) interleaved 1:1 with valid events, exactly-once.
The scorer stays up; read_committed, every valid event is scored once, and every hostile
record comes out once: scored if it is in fact valid, else a dead letter with its
original key, value and headers and the reason the reference parser gives."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from helpers import ERROR_HEADERS, child_env, isolated_settings, wait_for
from test_junk import kept_headers

from bench.junk import Hostile, hostile
from streams.config import Settings
from streams.contract.dead_letters import H_REASON
from streams.contract.records import header
from streams.contract.validation import Problem, parse_event
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.realbroker import RealBroker
from streams.kafka import (
    DeliveryTracker,
    committed_total,
    end_total,
    flush,
    make_producer,
    produce,
    read_topic,
)

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
COUNT = 20_000


def _send(settings: Settings, records: list[Hostile]) -> None:
    producer = make_producer(settings)
    tracker = DeliveryTracker()
    for key, value, headers in records:
        produce(producer, tracker, settings.topic_events, key, value, headers)
    flush(producer, tracker, timeout_s=120)


def _expected(
    valid: list[bytes], junk: list[Hostile]
) -> tuple[Counter[str], Counter[tuple[object, ...]]]:
    """Event ids to be scored, and dead letters as (key, value, kept headers, reason)."""
    ids = Counter(orjson.loads(v)["event_id"] for v in valid)
    dead: Counter[tuple[object, ...]] = Counter()
    for key, value, headers in junk:
        reference = parse_event(value)
        if isinstance(reference, Problem):
            dead[key, value, tuple(kept_headers(headers)), reference.reason] += 1
        else:
            ids[reference["event_id"]] += 1
    return ids, dead


def test_hostile_records_at_volume_each_come_out_once(real_broker: RealBroker) -> None:
    settings = isolated_settings(
        real_broker.bootstrap,
        topic_partitions=4,
        scorer_instance_id="a",
        transaction_timeout_ms=10_000,
        metrics_port=0,
    )
    valid = [r for r in generate(GeneratorConfig(seed=71, count=COUNT)) if r.topic == "events"]
    junk = hostile(71, COUNT)
    mixed: list[Hostile] = []
    for event, bad in zip(valid, junk, strict=True):
        mixed += [(event.key, event.value, None), bad]
    scorer = subprocess.Popen(
        [sys.executable, "-m", "streams", "score"], env=child_env(settings), cwd=ROOT
    )
    try:
        _send(settings, mixed)
        total = end_total(settings, settings.topic_events)
        assert total == len(mixed)
        group, topic = settings.scorer_group_id, settings.topic_events
        wait_for(
            lambda: committed_total(settings, group, topic) == total or scorer.poll() is not None,
            120,
            "the scorer to commit every record",
        )
        assert scorer.poll() is None, f"the scorer ended: {scorer.returncode}"
    finally:
        scorer.terminate()
        code = scorer.wait(60)
    assert code == 0
    ids, dead = _expected([r.value for r in valid if r.value is not None], junk)
    scores = read_topic(settings, settings.topic_scores)
    assert Counter(orjson.loads(r.value or b"")["event_id"] for r in scores) == ids
    dlq = read_topic(settings, settings.topic_dlq)
    got: Counter[tuple[object, ...]] = Counter()
    for rec in dlq:
        headers = rec.headers or []
        errors = [k for k, _ in headers[-len(ERROR_HEADERS) :]]
        assert errors == ERROR_HEADERS, errors  # original headers first, then the error's
        kept = tuple(headers[: -len(ERROR_HEADERS)])
        got[rec.key, rec.value, kept, header(headers, H_REASON)] += 1
    assert got == dead
    assert sum(dead.values()) > COUNT // 2  # most of the junk is junk
