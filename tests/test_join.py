"""The join's pure core in memory: both arrival orders, duplicates, corrections,
unknown ids, invalid input, expiry and state size, and the concept-drift alert."""

from __future__ import annotations

import orjson

from streams.config import Settings
from streams.contracts import validator
from streams.dlq import H_REASON
from streams.join import DAY_MS, Join, JoinConfig, feedback_record, score_record
from streams.joiner import consumed, processor_for, send_arguments
from streams.records import InRecord, Origin, OutRecord, header

T0 = 1_767_225_600_000


def _values(records: list, topic: str) -> list[dict]:
    return [orjson.loads(r.value) for r in records if r.topic == topic]


def test_score_first_then_feedback() -> None:
    j = Join(JoinConfig(), {})
    assert j.on_score(score_record("e1", T0, score=0.7), 0) == []
    out = _values(j.on_feedback(feedback_record("e1", 1, T0 + 5_000), 0), "labelled")
    assert len(out) == 1 and out[0]["label"] == 1 and out[0]["score"] == 0.7
    assert out[0]["label_delay_ms"] == 5_000 and out[0]["correction"] is False
    assert validator("labelled").is_valid(out[0])


def test_feedback_first_then_score() -> None:
    j = Join(JoinConfig(), {})
    assert j.on_feedback(feedback_record("e1", 0, T0 + 9_000), 0) == []
    out = _values(j.on_score(score_record("e1", T0), 0), "labelled")
    assert [o["label"] for o in out] == [0]


def test_same_feedback_twice_is_a_duplicate_not_an_output() -> None:
    j = Join(JoinConfig(), {})
    j.on_score(score_record("e1", T0), 0)
    fb = feedback_record("e1", 1, T0 + 1)
    assert len(j.on_feedback(fb, 0)) == 1
    assert j.on_feedback(fb, 0) == []
    assert j.counts.duplicates == 1


def test_second_feedback_is_a_correction() -> None:
    j = Join(JoinConfig(), {})
    j.on_score(score_record("e1", T0), 0)
    j.on_feedback(feedback_record("e1", 1, T0 + 1), 0)
    out = _values(j.on_feedback(feedback_record("e1", 0, T0 + 2), 0), "labelled")
    assert out[0]["correction"] is True and out[0]["previous_label"] == 1 and out[0]["label"] == 0
    assert j.counts.corrections == 1


def test_repeated_score_is_idempotent() -> None:
    j = Join(JoinConfig(), {})
    j.on_score(score_record("e1", T0), 0)
    j.on_feedback(feedback_record("e1", 1, T0 + 1), 0)
    assert j.on_score(score_record("e1", T0), 0) == []
    assert j.counts.duplicate_scores == 1


def test_unknown_event_feedback_goes_unmatched_after_retention() -> None:
    j = Join(JoinConfig(retention_ms=DAY_MS), {})
    assert j.on_feedback(feedback_record("ghost", 1, T0), 0) == []
    # time moves on this partition only once something later arrives here
    out = j.on_score(score_record("later", T0 + DAY_MS + 1), 0)
    unmatched = _values(out, "feedback.unmatched")
    assert [u["event_id"] for u in unmatched] == ["ghost"]
    assert unmatched[0]["reason"] == "no_matching_score"
    assert validator("feedback_unmatched").is_valid(unmatched[0])


def test_state_expires_per_partition_and_shrinks() -> None:
    state: dict = {}
    j = Join(JoinConfig(retention_ms=DAY_MS), state)
    for i in range(1_000):
        j.on_score(score_record(f"e{i}", T0 + i), i % 2)
    assert len(state) == 1_000
    j.on_score(score_record("tick0", T0 + 2 * DAY_MS), 0)  # partition 0's clock passes retention
    assert len(state) == len(j) == 501  # partition 1 has not moved: its 500 stay, plus the tick
    j.on_score(score_record("tick1", T0 + 2 * DAY_MS), 1)
    assert len(state) == len(j) == 2


def test_index_rebuilt_from_state_expires_the_same() -> None:
    state: dict = {}
    first = Join(JoinConfig(retention_ms=DAY_MS), state)
    for i in range(10):
        first.on_score(score_record(f"e{i}", T0), 3)
    recovered = Join(JoinConfig(retention_ms=DAY_MS), state)  # as after a restart
    recovered.rebuild_index()
    assert len(recovered) == 10
    recovered.on_score(score_record("tick", T0 + 2 * DAY_MS), 3)
    assert list(state) == ["tick"]


def _processor(**overrides: object):  # type: ignore[no-untyped-def]
    return processor_for(Settings(**overrides), {})  # type: ignore[arg-type]


def test_invalid_feedback_and_key_mismatch_are_dead_lettered() -> None:
    p = _processor()
    origin = Origin("feedback", 2, 40)
    bad = b'{"event_id": "e1", "label": 3}'
    out = p.handle(InRecord(origin, b"e1", bad), is_score=False, now_ms=0)
    assert [r.topic for r in out] == ["feedback.dlq"] and out[0].value == bad
    assert header(out[0].headers, H_REASON) == "missing_field"
    good = orjson.dumps(feedback_record("e1", 1, T0))
    out = p.handle(InRecord(origin, b"other", good), is_score=False, now_ms=0)
    assert header(out[0].headers, H_REASON) == "key_mismatch"
    out = p.handle(InRecord(origin, b"e1", b"\xff\xfe"), is_score=False, now_ms=0)
    assert header(out[0].headers, H_REASON) == "not_utf8"


def test_concept_drift_alert_fires_after_the_relation_flips() -> None:
    p = _processor(quality_window=500, quality_cooldown=100_000)
    alerts_at = []
    for i in range(6_000):
        label = int(i % 10 == 0)
        # before 3,000 the score knows the label; after it, the relation is inverted
        score = (0.8 if label else 0.05) if i < 3_000 else (0.05 if label else 0.8)
        eid = f"e{i}"
        score_in = InRecord(
            Origin("scores", 0, i), eid.encode(), orjson.dumps(score_record(eid, T0 + i, score))
        )
        feedback_in = InRecord(
            Origin("feedback", 0, i),
            eid.encode(),
            orjson.dumps(feedback_record(eid, label, T0 + i)),
        )
        p.handle(score_in, True, 0)
        out = p.handle(feedback_in, False, 0)
        alerts_at += [i for r in out if r.topic == "drift.alerts"]
    assert len(alerts_at) == 1  # one shift, one alert (cool-down)
    assert 3_000 <= alerts_at[0] < 3_300
    snap = p.quality.snapshot()["v"]
    assert snap["roc_auc"] < 0.5


def test_joiner_timestamps_survive_fausts_seconds_exactly() -> None:
    # faust takes seconds and sends int(seconds * 1000.0): from ms / 1000, 1001 became 1000
    for ms in (1, 999, 1001, 1019, 1_767_225_600_123):
        seconds = send_arguments(OutRecord("t", None, None, None, ms))["timestamp"]
        assert int(seconds * 1000.0) == ms
        msg = type("Message", (), {"topic": "t", "partition": 0, "offset": 0, "key": None,
                                   "headers": None, "timestamp": ms / 1000.0})  # fmt: skip
        assert consumed(msg, None).origin.timestamp_ms == ms  # faust's ms / 1000.0 back
    assert send_arguments(OutRecord("t", None, None))["timestamp"] is None  # the producer's
