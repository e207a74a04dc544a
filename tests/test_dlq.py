"""Dead letters and their replay, in memory: the original headers (order, repeated names,
binary and null values) and timestamp are kept, the error headers follow, a replay
restores the original record; headers are read only for the records that fail."""

from __future__ import annotations

import orjson
import pytest
from helpers import ERROR_HEADERS, FULL_EVENT, KCAT_HEADERS

from streams.contract.dead_letters import (
    H_REPLAYED_FROM,
    ReplaySelection,
    dead_letter,
    replay_records,
)
from streams.contract.records import Headers, InRecord, Origin, header
from streams.contract.validation import Problem
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline

T = 1_767_225_600_123
PROBLEM = Problem("wrong_type", "amount", "expected a number, got str")


def _dead(rec: InRecord, now_ms: int = 5) -> InRecord:
    """``rec``'s dead letter as read back from ``events.dlq`` partition 1, offset 9."""
    out = dead_letter(rec, PROBLEM, stage="validate", dlq_topic="events.dlq", now_ms=now_ms)
    return InRecord(Origin(out.topic, 1, 9, out.timestamp_ms), out.key, out.value, out.headers)


def test_dead_letter_keeps_the_original_headers_then_adds_the_errors() -> None:
    rec = InRecord(Origin("events", 3, 42, T), b"k", b'{"amount": "1"}', list(KCAT_HEADERS))
    out = dead_letter(rec, PROBLEM, stage="validate", dlq_topic="events.dlq", now_ms=T + 500)
    assert out.headers is not None
    assert out.headers[: len(KCAT_HEADERS)] == KCAT_HEADERS  # byte for byte, in order
    assert [k for k, _ in out.headers[len(KCAT_HEADERS) :]] == ERROR_HEADERS
    assert (out.topic, out.key, out.value) == ("events.dlq", rec.key, rec.value)
    assert out.timestamp_ms == T  # the original's; the time written is a header
    assert header(out.headers, "__streamscore.errors.time") == str(T + 500)
    assert header(out.headers, "__streamscore.source.timestamp") == str(T)


def test_a_record_without_headers_or_timestamp_gets_only_the_errors() -> None:
    out = dead_letter(InRecord(Origin("events", 0, 1), None, None), PROBLEM, stage="validate",
                      dlq_topic="events.dlq", now_ms=5)  # fmt: skip
    assert [k for k, _ in out.headers or ()] == ERROR_HEADERS[:-1]  # no source timestamp
    assert out.timestamp_ms is None  # the producer's time


def test_replay_restores_the_original_headers_and_timestamp() -> None:
    rec = InRecord(Origin("events", 3, 42, T), b"k", b"{bad", list(KCAT_HEADERS))
    (again,) = replay_records([_dead(rec)], ReplaySelection(), to_topic=None)
    assert (again.topic, again.key, again.value, again.timestamp_ms) == ("events", b"k", b"{bad", T)
    assert again.headers == [*KCAT_HEADERS, (H_REPLAYED_FROM, b"events.dlq/1/9")]
    (elsewhere,) = replay_records([_dead(rec)], ReplaySelection(), to_topic="fixed")
    assert elsewhere.topic == "fixed" and elsewhere.headers == again.headers


def test_a_replayed_record_that_fails_again_has_one_set_of_error_headers() -> None:
    rec = InRecord(Origin("events", 3, 42, T), b"k", b"{bad", list(KCAT_HEADERS))
    (replayed,) = replay_records([_dead(rec, now_ms=5)], ReplaySelection(), to_topic=None)
    # consumed again from events (offset 77), rejected again
    consumed = InRecord(Origin("events", 3, 77, T), replayed.key, replayed.value, replayed.headers)
    second = _dead(consumed, now_ms=6)
    marker = (H_REPLAYED_FROM, b"events.dlq/1/9")
    assert second.headers is not None
    assert second.headers[: len(KCAT_HEADERS) + 1] == [*KCAT_HEADERS, marker]  # the marker is kept
    assert [k for k, _ in second.headers[len(KCAT_HEADERS) + 1 :]] == ERROR_HEADERS
    assert header(second.headers, "__connect.errors.offset") == "77"
    assert header(second.headers, "__streamscore.errors.time") == "6"
    (third,) = replay_records([second], ReplaySelection(), to_topic=None)
    assert third.headers == [*KCAT_HEADERS, marker]  # one marker: this dead letter's
    assert third.timestamp_ms == T


def test_stale_error_headers_of_any_origin_are_replaced() -> None:
    stale: Headers = [
        ("__connect.errors.reason.x", b"old"),
        ("__streamscore.errors.reason", b"old"),
    ]
    rec = InRecord(Origin("events", 0, 1, T), None, b"", [("a", b"1"), *stale])
    out = dead_letter(rec, PROBLEM, stage="validate", dlq_topic="events.dlq", now_ms=5)
    assert out.headers is not None and out.headers[0] == ("a", b"1")
    assert [k for k, _ in out.headers[1:]] == ERROR_HEADERS
    assert header(out.headers, "__streamscore.errors.reason") == "wrong_type"


def test_replay_without_a_source_timestamp_lets_the_producer_stamp_it() -> None:
    dead = _dead(InRecord(Origin("events", 0, 1), None, b"{bad"))
    assert replay_records([dead], ReplaySelection(), None)[0].timestamp_ms is None


class _Message:
    """A consumed message whose headers are read only on demand (as confluent-kafka's)."""

    def __init__(self, headers: Headers | None) -> None:
        self._headers = headers
        self.reads = 0

    def headers(self) -> Headers | None:
        self.reads += 1
        return self._headers


@pytest.mark.parametrize("headers", [list(KCAT_HEADERS), None])
def test_the_pipeline_reads_headers_only_of_the_records_it_dead_letters(
    headers: Headers | None,
) -> None:
    good, bad = _Message(headers), _Message(headers)
    batch = [
        InRecord(Origin("events", 0, 0, T), b"k", orjson.dumps(FULL_EVENT), None, good),
        InRecord(Origin("events", 0, 1, T), b"k", b"{bad", None, bad),
    ]
    result = ScoringPipeline(None, PipelineConfig()).process(batch, now_ms=5)
    assert [r.topic for r in result.records] == ["scores", "events.dlq"]
    assert (good.reads, bad.reads) == (0, 1)
    dlq = result.records[1]
    assert dlq.headers is not None and dlq.headers[: len(headers or [])] == (headers or [])
    assert dlq.timestamp_ms == T
