"""The join's pure core in memory: both arrival orders, duplicates, corrections,
unknown ids, invalid input, expiry and state size, and the concept-drift alert."""

from __future__ import annotations

import copy

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import Settings
from streams.contract.dead_letters import H_REASON
from streams.contract.join_inputs import ShadowIn
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin, OutRecord, header
from streams.contract.schemas import validator
from streams.feedback.app import processor_for
from streams.feedback.examples import feedback_record, score_record, shadow_record
from streams.feedback.join import DAY_MS, Join, JoinConfig
from streams.kafka.faust_batch import record_of, send_arguments

T0 = 1_767_225_600_000


def _values(records: list, topic: str) -> list[dict]:
    return [orjson.loads(r.value) for r in records if r.topic == topic]


def test_score_first_then_feedback() -> None:
    j = Join(JoinConfig(), {})
    assert j.on_score(score_record("e1", T0, score=0.7), 0, 0) == []
    out = _values(j.on_feedback(feedback_record("e1", 1, T0 + 5_000), 0, 0), "labelled")
    assert len(out) == 1 and out[0]["label"] == 1 and out[0]["score"] == 0.7
    assert out[0]["label_delay_ms"] == 5_000 and out[0]["correction"] is False
    assert validator("labelled").is_valid(out[0])


def test_feedback_first_then_score() -> None:
    j = Join(JoinConfig(), {})
    assert j.on_feedback(feedback_record("e1", 0, T0 + 9_000), 0, 0) == []
    out = _values(j.on_score(score_record("e1", T0), 0, 0), "labelled")
    assert [o["label"] for o in out] == [0]


def test_same_feedback_twice_is_a_duplicate_not_an_output() -> None:
    j = Join(JoinConfig(), {})
    j.on_score(score_record("e1", T0), 0, 0)
    fb = feedback_record("e1", 1, T0 + 1)
    assert len(j.on_feedback(fb, 0, 10)) == 1
    assert j.on_feedback(fb, 0, 11) == []  # another record with the same feedback_id
    assert j.counts.duplicates == 1 and j.counts.replayed == 0


def test_second_feedback_is_a_correction() -> None:
    j = Join(JoinConfig(), {})
    j.on_score(score_record("e1", T0), 0, 0)
    j.on_feedback(feedback_record("e1", 1, T0 + 1), 0, 0)
    out = _values(j.on_feedback(feedback_record("e1", 0, T0 + 2), 0, 1), "labelled")
    assert out[0]["correction"] is True and out[0]["previous_label"] == 1 and out[0]["label"] == 0
    assert j.counts.corrections == 1


def test_repeated_score_is_idempotent() -> None:
    j = Join(JoinConfig(), {})
    j.on_score(score_record("e1", T0), 0, 0)
    j.on_feedback(feedback_record("e1", 1, T0 + 1), 0, 0)
    assert j.on_score(score_record("e1", T0), 0, 1) == []  # the same score, another record
    assert j.counts.duplicate_scores == 1


def test_unknown_event_feedback_goes_unmatched_after_retention() -> None:
    j = Join(JoinConfig(retention_ms=DAY_MS), {})
    assert j.on_feedback(feedback_record("ghost", 1, T0), 0, 0) == []
    # time moves on this partition only once something later arrives here
    out = j.on_score(score_record("later", T0 + DAY_MS + 1), 0, 0)
    unmatched = _values(out, "feedback.unmatched")
    assert [u["event_id"] for u in unmatched] == ["ghost"]
    assert unmatched[0]["reason"] == "no_matching_score"
    assert validator("feedback_unmatched").is_valid(unmatched[0])


def test_state_expires_per_partition_and_shrinks() -> None:
    state: dict = {}
    j = Join(JoinConfig(retention_ms=DAY_MS), state)
    for i in range(1_000):
        j.on_score(score_record(f"e{i}", T0 + i), i % 2, i // 2)
    assert len(state) == 1_000
    # partition 0's clock passes retention: its scores expire and leave a marker each
    j.on_score(score_record("tick0", T0 + 2 * DAY_MS), 0, 500)
    assert j.counts.expired == 500 and len(state) == len(j) == 1_001
    # partition 1 has not moved: its 500 stay; past two retentions partition 0's markers go
    j.on_score(score_record("tock0", T0 + 4 * DAY_MS), 0, 501)
    assert len(state) == len(j) == 502  # partition 1's 500, the tick (a marker now), the tock
    j.on_score(score_record("tick1", T0 + 4 * DAY_MS), 1, 500)
    # partition 1's scores are past their markers' time too: gone at once
    assert j.counts.expired == 1_001 and sorted(state) == ["tick0", "tick1", "tock0"]


def test_unmatched_tells_an_expired_score_from_an_event_never_seen() -> None:
    j = Join(JoinConfig(retention_ms=DAY_MS), {})
    j.on_score(score_record("old", T0), 0, 0)
    j.on_feedback(feedback_record("ghost", 1, T0 + 1), 0, 0)  # waits for a score
    j.on_score(score_record("tick", T0 + 2 * DAY_MS), 0, 1)  # both expire
    late = j.on_feedback(feedback_record("old", 1, T0 + 2 * DAY_MS + 1), 0, 1)
    unmatched = [(u["event_id"], u["reason"]) for u in _values(late, "feedback.unmatched")]
    assert unmatched == [("old", "score_expired")]  # at once: its score is known to be gone
    assert validator("feedback_unmatched").is_valid(_values(late, "feedback.unmatched")[0])
    assert dict(j.counts.unmatched) == {"no_matching_score": 1, "score_expired": 1}


def test_index_rebuilt_from_state_expires_the_same() -> None:
    state: dict = {}
    first = Join(JoinConfig(retention_ms=DAY_MS), state)
    for i in range(10):
        first.on_score(score_record(f"e{i}", T0), 3, i)
    recovered = Join(JoinConfig(retention_ms=DAY_MS), state)  # as after a restart
    recovered.rebuild_index()
    assert len(recovered) == 10
    recovered.on_score(score_record("tick", T0 + 3 * DAY_MS), 3, 10)
    assert recovered.counts.expired == 10
    recovered.on_score(score_record("tock", T0 + 5 * DAY_MS), 3, 11)
    assert sorted(state) == ["tick", "tock"]


PARTITIONS = 6


def _processor(**overrides: object):  # type: ignore[no-untyped-def]
    return processor_for(Settings(**overrides), {}, PARTITIONS)  # type: ignore[arg-type]


def _home(event_id: str) -> int:
    return partition_for(event_id.encode(), PARTITIONS)


def test_invalid_feedback_and_key_mismatch_are_dead_lettered() -> None:
    p = _processor()
    origin = Origin("feedback", _home("e1"), 40)
    bad = b'{"event_id": "e1", "label": 3}'
    out = p.handle(InRecord(origin, b"e1", bad), kind="feedback", now_ms=0)
    assert [r.topic for r in out] == ["feedback.dlq"] and out[0].value == bad
    assert header(out[0].headers, H_REASON) == "missing_field"
    good = orjson.dumps(feedback_record("e1", 1, T0))
    out = p.handle(InRecord(origin, b"other", good), kind="feedback", now_ms=0)
    assert header(out[0].headers, H_REASON) == "key_mismatch"
    out = p.handle(InRecord(origin, b"e1", b"\xff\xfe"), kind="feedback", now_ms=0)
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
            Origin("scores", _home(eid), i),
            eid.encode(),
            orjson.dumps(score_record(eid, T0 + i, score)),
        )
        feedback_in = InRecord(
            Origin("feedback", _home(eid), i),
            eid.encode(),
            orjson.dumps(feedback_record(eid, label, T0 + i)),
        )
        p.handle(score_in, True, 0)
        out = p.handle(feedback_in, False, 0)
        alerts = [orjson.loads(r.value) for r in out if r.topic == "drift.alerts"]
        alerts_at += [i for a in alerts if a["signal"] == "concept"]
    assert len(alerts_at) == 1  # one shift, one alert (cool-down)
    assert 3_000 <= alerts_at[0] < 3_300
    snap = p.quality.snapshot()["v"]
    assert snap["roc_auc"] < 0.5


def test_a_record_read_again_emits_what_it_emitted_byte_for_byte() -> None:
    j = Join(JoinConfig(), {})
    first = j.on_feedback(feedback_record("e1", 1, T0 + 5, "f1"), 0, 0)  # waits for its score
    by_score = j.on_score(score_record("e1", T0), 0, 0)
    correction = j.on_feedback(feedback_record("e1", 0, T0 + 9, "f2"), 0, 1)
    assert first == [] and [_values(by_score, "labelled")[0]["label"]] == [1]
    restarted = Join(JoinConfig(), j.state)  # the store survived; the offsets were not committed
    restarted.rebuild_index()
    again = [
        *restarted.on_feedback(feedback_record("e1", 0, T0 + 9, "f2"), 0, 1),
        *restarted.on_score(score_record("e1", T0), 0, 0),
        *restarted.on_feedback(feedback_record("e1", 1, T0 + 5, "f1"), 0, 0),
    ]
    assert sorted(r.value for r in again) == sorted(r.value for r in by_score + correction)
    assert restarted.counts.replayed == 3 and restarted.counts.reemitted == 2
    assert restarted.counts.duplicates == restarted.counts.joined == 0


def test_entries_written_without_offsets_still_join() -> None:
    state = {"e1": {"score": {k: score_record("e1", T0)[k] for k in ("account_id", "features",
                    "score", "decision", "model_version", "event_time", "scored_at")},
                    "seen": ["old"], "label": 1, "exp": T0 + DAY_MS, "p": 0},
             "e2": {"pending": [feedback_record("e2", 1, T0, "w")], "seen": ["w"],
                    "exp": T0 + DAY_MS, "p": 0}}  # fmt: skip
    j = Join(JoinConfig(), state)
    j.rebuild_index()
    assert j.on_feedback(feedback_record("e1", 0, T0, "old"), 0, 3) == []  # a duplicate
    fix = _values(j.on_feedback(feedback_record("e1", 0, T0, "new"), 0, 4), "labelled")
    assert [(v["correction"], v["previous_label"]) for v in fix] == [(True, 1)]
    assert [v["feedback_id"] for v in _values(j.on_score(score_record("e2", T0), 0, 9),
                                              "labelled")] == ["w"]  # fmt: skip


Input = tuple[str, int, dict]  # topic, offset, parsed value


@st.composite
def _crash_runs(draw: st.DrawFn) -> tuple[list[Input], list[Input], int, int]:
    """Inputs of a few events (a score, one to three feedback, some sent twice, zero to two
    copies of a shadow score: they must change nothing the join outputs) in a processing
    order that keeps each topic's offsets in order; where the crash comes (records
    processed, committed, in the store); the order they are read again in."""
    streams: dict[str, list[dict]] = {"scores": [], "feedback": [], "shadow": []}
    for e in range(draw(st.integers(1, 6))):
        eid = f"e{e}"
        streams["scores"].append(score_record(eid, T0 + e))
        streams["shadow"] += [shadow_record(eid, T0 + e)] * draw(st.integers(0, 2))
        for k in range(draw(st.integers(1, 3))):
            fb = feedback_record(eid, draw(st.integers(0, 1)), T0 + 100 + k, f"{eid}-{k}")
            streams["feedback"] += [fb] * draw(st.integers(1, 2))
    queues = {t: list(enumerate(draw(st.permutations(v)))) for t, v in streams.items()}
    records = _interleave(queues, draw(st.permutations([t for t, v in streams.items() for _ in v])))
    processed = draw(st.integers(0, len(records)))
    committed = draw(st.integers(0, processed))
    stored = draw(st.integers(committed, processed))
    left = {t: [(o, v) for t2, o, v in records[committed:] if t2 == t] for t in streams}
    again = _interleave(left, draw(st.permutations([t for t, *_ in records[committed:]])))
    return records[:processed], again, committed, stored


def _interleave(queues: dict[str, list[tuple[int, dict]]], topics: list[str]) -> list[Input]:
    """The records of ``queues`` (each topic's in offset order), taken in ``topics`` order."""
    return [(t, *queues[t].pop(0)) for t in topics]


def _feed(j: Join, rec: Input) -> list:
    topic, offset, value = rec
    if topic == "scores":
        return j.on_score(value, 0, offset)
    if topic == "shadow":
        j.on_shadow(ShadowIn(value["event_id"], value["event_time"], "v2", 0.5), 0, offset)
        return []
    return j.on_feedback(value, 0, offset)


@settings(max_examples=300, deadline=None)
@given(_crash_runs())
def test_a_crash_anywhere_loses_no_label_and_re_emits_identical_bytes(run: tuple) -> None:
    processed, again, committed, stored = run
    first, durable, maybe, state = Join(JoinConfig(), {}), [], [], {}
    for i, rec in enumerate(processed):
        out = _feed(first, rec)
        if i < committed:
            durable += out  # confirmed before the offsets were committed
        elif i < stored:
            maybe += out  # sent, perhaps delivered; the store holds what they did
        if i + 1 == stored:
            state = copy.deepcopy(first.state)  # what the store held at the crash
    restarted = Join(JoinConfig(), state)  # reads again from the committed offsets
    restarted.rebuild_index()
    for rec in again:
        durable += _feed(restarted, rec)
    by_feedback: dict[str, set[bytes]] = {}
    for r in durable + maybe:
        if r.topic == "labelled":
            by_feedback.setdefault(orjson.loads(r.value)["feedback_id"], set()).add(r.value)
    expected = {v["feedback_id"] for topic, _, v in processed[:committed] + again
                if topic == "feedback"}  # fmt: skip
    labelled = {orjson.loads(r.value)["feedback_id"] for r in durable if r.topic == "labelled"}
    assert labelled == expected  # every label made it, at least once
    assert all(len(values) == 1 for values in by_feedback.values())  # re-emits identical


def test_feedback_on_the_wrong_partition_is_rerouted_or_dead_lettered() -> None:
    value = orjson.dumps(feedback_record("e7", 1, T0))
    wrong = (_home("e7") + 1) % PARTITIONS
    origin = Origin("feedback", wrong, 12, T0 + 3)
    rec = InRecord(origin, b"e7", value, [("trace-id", b"\x00\xff")])
    rerouted = _processor().handle(rec, kind="feedback", now_ms=0)
    assert [(r.topic, r.partition, r.key, r.value, r.timestamp_ms) for r in rerouted] == [
        ("feedback", _home("e7"), b"e7", value, T0 + 3)
    ]
    assert rerouted[0].headers == [
        ("trace-id", b"\x00\xff"),
        ("__streamscore.rerouted.from", f"feedback/{wrong}/12".encode()),
    ]
    p = _processor(joiner_misrouted_feedback="dead_letter")
    dead = p.handle(rec, kind="feedback", now_ms=0)
    assert [(r.topic, r.value, header(r.headers, H_REASON)) for r in dead] == [
        ("feedback.dlq", value, "wrong_partition")
    ]
    assert dict(p.misrouted) == {"dead_letter": 1} and len(p.join) == 0


def test_joiner_timestamps_survive_fausts_seconds_exactly() -> None:
    # faust takes seconds and sends int(seconds * 1000.0): from ms / 1000, 1001 became 1000
    for ms in (1, 999, 1001, 1019, 1_767_225_600_123):
        seconds = send_arguments(OutRecord("t", None, None, None, ms))["timestamp"]
        assert int(seconds * 1000.0) == ms
        record = type("Record", (), {"topic": "t", "partition": 0, "offset": 0, "key": None,
                                     "value": None, "headers": None, "timestamp": ms})  # fmt: skip
        assert record_of(record).origin.timestamp_ms == ms  # aiokafka's records are in ms
    assert send_arguments(OutRecord("t", None, None))["timestamp"] is None  # the producer's
