"""Shadow scores (``scores.shadow``) in the join: each gets its event's first label once,
whichever arrives first, replays and copies do not count again, corrections do not
re-feed, and each shadow version has its own rolling quality and AUC estimate."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import Settings
from streams.contract.dead_letters import H_REASON
from streams.contract.join_inputs import ShadowIn, parse_shadow
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin, OutRecord, header
from streams.contract.schemas import validator
from streams.feedback.app import input_topics, processor_for, snapshot
from streams.feedback.examples import feedback_record, score_record, shadow_record
from streams.feedback.join import DAY_MS, Join, JoinConfig

T0 = 1_767_225_600_000
PARTITIONS = 6
Call = tuple[str, int, float, int]  # version, label, score, time


def _shadow(eid: str, version: str = "v2", score: float = 0.3, t: int = T0) -> ShadowIn:
    parsed = parse_shadow(orjson.dumps(shadow_record(eid, t, version, score)))
    assert isinstance(parsed, ShadowIn)
    return parsed


def _join(calls: list[Call], state: dict | None = None) -> Join:
    return Join(JoinConfig(), {} if state is None else state, on_shadow_label=_record(calls))


def _record(calls: list[Call]):  # type: ignore[no-untyped-def]
    return lambda *args: calls.append(args)


def test_the_example_record_is_schema_valid_and_parses_both_ways() -> None:
    record = shadow_record("e1", T0, "v2", 0.25)
    assert validator("score_shadow").is_valid(record)
    assert parse_shadow(orjson.dumps({**record, "score": 1})) == ShadowIn("e1", T0, "v2", 1.0)
    assert parse_shadow(orjson.dumps({**record, "score": 1.5})).reason == "out_of_range"  # type: ignore[union-attr]
    assert parse_shadow(orjson.dumps({**record, "event_time": "x"})).reason == "wrong_type"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "order",
    [
        "shadow score feedback",
        "score shadow feedback",
        "score feedback shadow",
        "feedback shadow score",
        "feedback score shadow",
        "shadow feedback score",
    ],
)
def test_a_shadow_score_gets_its_events_label_once_whichever_comes_first(order: str) -> None:
    calls: list[Call] = []
    j = _join(calls)
    inputs = {
        "score": lambda: j.on_score(score_record("e1", T0, 0.7), 0, 0),
        "shadow": lambda: j.on_shadow(_shadow("e1", "v2", 0.3), 0, 0),
        "feedback": lambda: j.on_feedback(feedback_record("e1", 1, T0 + 50), 0, 0),
    }
    outputs = [inputs[name]() for name in order.split()]
    assert [len(o) for o in outputs if isinstance(o, list)].count(1) == 1  # one labelled
    assert [c[:3] for c in calls] == [("v2", 1, 0.3)]
    assert calls[0][3] >= T0  # the label's time, or the clock's when the shadow came after
    assert j.counts.shadow_scores == j.counts.shadow_labelled == 1


def test_replays_copies_and_corrections_do_not_count_again() -> None:
    calls: list[Call] = []
    j = _join(calls)
    j.on_score(score_record("e1", T0, 0.7), 0, 0)
    assert j.on_shadow(_shadow("e1"), 0, 5) is True
    j.on_feedback(feedback_record("e1", 1, T0 + 50, "f1"), 0, 0)
    assert j.on_shadow(_shadow("e1"), 0, 5) is False  # read again at its offset: a replay
    assert j.on_shadow(_shadow("e1", score=0.9), 0, 6) is False  # another copy: the first stays
    j.on_feedback(feedback_record("e1", 0, T0 + 90, "f2"), 0, 1)  # a correction
    assert [c[:3] for c in calls] == [("v2", 1, 0.3)]
    assert (j.counts.replayed, j.counts.shadow_copies, j.counts.corrections) == (1, 1, 1)
    restarted = _join(calls, j.state)  # after a crash: the store kept the entry
    restarted.rebuild_index()
    assert restarted.on_shadow(_shadow("e1"), 0, 5) is False
    restarted.on_feedback(feedback_record("e1", 1, T0 + 50, "f1"), 0, 0)  # re-emits, not fed
    restarted.on_score(score_record("e1", T0, 0.7), 0, 0)
    assert len(calls) == 1 and restarted.counts.replayed == 3


def test_the_deciding_version_and_expired_scores_are_not_fed() -> None:
    calls: list[Call] = []
    j = Join(JoinConfig(retention_ms=DAY_MS), {}, on_shadow_label=_record(calls))
    j.on_score(score_record("e1", T0, 0.7, model_version="v3"), 0, 0)
    j.on_shadow(_shadow("e1", "v3"), 0, 0)  # the scorer never writes this; ignored if it does
    j.on_shadow(_shadow("e1", "v1"), 0, 1)  # the champion, on an event the canary v3 decided
    j.on_feedback(feedback_record("e1", 0, T0 + 5), 0, 0)
    assert [c[:3] for c in calls] == [("v1", 0, 0.3)]
    j.on_score(score_record("old", T0), 0, 1)
    j.on_score(score_record("tick", T0 + 2 * DAY_MS), 0, 2)  # "old" is a marker now
    assert j.on_shadow(_shadow("old"), 0, 2) is False and j.counts.shadow_late == 1
    assert decoded_shadow(j, "tick") == {}


def decoded_shadow(j: Join, key: str) -> dict:
    entry = j._load(0, key)
    assert entry is not None
    return entry.shadow


def _home(event_id: str) -> int:
    return partition_for(event_id.encode(), PARTITIONS)


def _in(topic: str, eid: str, offset: int, value: dict | bytes) -> InRecord:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return InRecord(Origin(topic, _home(eid), offset), eid.encode(), raw)


def test_each_shadow_version_has_its_own_rolling_quality_and_estimate() -> None:
    s = Settings(quality_window=100, estimate_window=100, estimate_step=10)
    p = processor_for(s, {}, PARTITIONS)
    batch: list[tuple[InRecord, object]] = []
    for i in range(400):
        eid, label = f"e{i}", int(i % 4 == 0)
        good, bad = (0.9 if label else 0.1), (0.1 if label else 0.9)  # v2 right, v3 inverted
        batch += [
            (_in("scores", eid, i, score_record(eid, T0 + i, 0.5 + 0.1 * label)), "scores"),
            (_in("scores.shadow", eid, 2 * i, shadow_record(eid, T0 + i, "v2", good)), "shadow"),
            (_in("scores.shadow", eid, 2 * i + 1, shadow_record(eid, T0 + i, "v3", bad)), "shadow"),
            (_in("feedback", eid, i, feedback_record(eid, label, T0 + i + 1)), "feedback"),
        ]
    out = p.handle_batch(batch, 0)  # type: ignore[arg-type]
    assert sum(r.topic == "labelled" for r in out.records) == 400  # deciding scores only
    quality = p.quality.snapshot()
    assert quality["v2"]["roc_auc"] == 1.0 and quality["v3"]["roc_auc"] == 0.0
    assert 0.5 < quality["v"]["roc_auc"] <= 1.0
    assert p.handled["shadow"] == 800 and p.join.counts.shadow_labelled == 800
    snap = snapshot(p)
    assert snap.events["shadow_labelled"] == 800 and snap.quality["v2"]["recall"] == 1.0
    # the estimate sees only scores (the same values for both); the labels tell them apart
    v2, v3 = snap.estimate["v2"], snap.estimate["v3"]
    assert v2["estimated_auc"] == pytest.approx(v3["estimated_auc"]) and v2["estimated_auc"] > 0.8
    assert v2["calibration_error"] < 0.2 < 0.6 < v3["calibration_error"]
    again = p.handle_batch(batch[:4], 0)  # read again: nothing new for any version
    assert p.join.counts.shadow_labelled == 800 and p.join.counts.replayed == 4
    assert sum(r.topic == "labelled" for r in again.records) == 1


def test_invalid_shadow_records_are_dead_lettered() -> None:
    p = processor_for(Settings(), {}, PARTITIONS)
    bad = _in("scores.shadow", "e1", 3, b'{"event_id": "e1", "score": 2}')
    wrong_key = InRecord(bad.origin, b"e2", orjson.dumps(shadow_record("e1", T0)))
    out = p.handle_batch([(bad, "shadow"), (wrong_key, "shadow")], 0).records
    reasons = [(r.topic, header(r.headers, H_REASON)) for r in out]
    assert reasons == [("feedback.dlq", "missing_field"), ("feedback.dlq", "key_mismatch")]


def test_scores_shadow_is_read_only_with_the_setting() -> None:
    assert input_topics(Settings())[-1] == "scores.shadow"
    assert input_topics(Settings(joiner_shadow_quality=False)) == ["scores", "feedback"]


# -- properties: outputs unchanged by shadow records; one label per (event, version) ----
Input = tuple[str, int, object]  # topic, offset, value (parsed)


@st.composite
def _runs(draw: st.DrawFn) -> tuple[list[Input], set[tuple[str, str]]]:
    """A few events' score, feedback (some twice) and shadow scores (0-2 versions, some
    records twice), each topic in offset order, interleaved at random; and the (event,
    version) pairs that must get a label: events with a score and a feedback."""
    streams: dict[str, list[object]] = {"scores": [], "feedback": [], "shadow": []}
    expected = set()
    for e in range(draw(st.integers(1, 6))):
        eid = f"e{e}"
        streams["scores"].append(score_record(eid, T0 + e))
        labels = draw(st.integers(0, 2))
        for k in range(labels):
            fb = feedback_record(eid, draw(st.integers(0, 1)), T0 + 100 + k, f"{eid}-{k}")
            streams["feedback"] += [fb] * draw(st.integers(1, 2))
        for version in draw(st.sampled_from([[], ["v2"], ["v2", "v3"]])):
            streams["shadow"] += [_shadow(eid, version, 0.1 * e)] * draw(st.integers(1, 2))
            expected |= {(eid, version)} if labels else set()
    queues = {t: list(enumerate(draw(st.permutations(v)))) for t, v in streams.items()}
    order = draw(st.permutations([t for t, v in streams.items() for _ in v]))
    return [(t, *queues[t].pop(0)) for t in order], expected


def _feed(j: Join, rec: Input, fed: list[str]) -> list[OutRecord]:
    topic, offset, value = rec
    if topic == "shadow":
        assert isinstance(value, ShadowIn)
        before = j.counts.shadow_labelled
        j.on_shadow(value, 0, offset)
        fed += [value.event_id] * (j.counts.shadow_labelled - before)
        return []
    if topic == "scores":
        return j.on_score(value, 0, offset)  # type: ignore[arg-type]
    return j.on_feedback(value, 0, offset)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(_runs())
def test_shadow_records_change_no_output_and_each_version_is_labelled_once(run: tuple) -> None:
    records, expected = run
    calls: list[Call] = []
    with_shadow, without = _join(calls), Join(JoinConfig(), {})
    out = [r for rec in records for r in _feed(with_shadow, rec, [])]
    plain = [r for rec in records if rec[0] != "shadow" for r in _feed(without, rec, [])]
    assert out == plain  # the same records, byte for byte, in the same order
    assert with_shadow.counts.joined == without.counts.joined
    labelled = {orjson.loads(r.value)["event_id"] for r in out if r.topic == "labelled"}
    got = _pairs(calls, records)
    assert sorted(got) == sorted(expected) and {e for e, _ in got} <= labelled


def _pairs(calls: list[Call], records: list[Input]) -> list[tuple[str, str]]:
    """(event, version) of each call: shadow scores are unique per version here
    (0.1 times the event's number), so the score names the event."""
    by_score = {
        (v.model_version, v.score): v.event_id
        for t, _, v in records
        if t == "shadow" and isinstance(v, ShadowIn)
    }
    return [(by_score[(version, score)], version) for version, _, score, _ in calls]


@settings(max_examples=200, deadline=None)
@given(_runs(), st.data())
def test_a_crash_with_shadow_records_re_reads_without_counting_twice(
    run: tuple, data: st.DataObject
) -> None:
    records, expected = run
    processed = data.draw(st.integers(0, len(records)))
    committed = data.draw(st.integers(0, processed))
    stored = data.draw(st.integers(committed, processed))
    calls: list[Call] = []
    first, state = _join(calls), {}
    for i, rec in enumerate(records[:processed]):
        _feed(first, rec, [])
        if i + 1 == stored:
            state = copy.deepcopy(first.state)
    before = len(calls)
    restarted = _join(calls, state)  # its quality starts from the stored state
    restarted.rebuild_index()
    for rec in records[committed:]:
        _feed(restarted, rec, [])
    pairs = _pairs(calls[before:], records)
    assert len(pairs) == len(set(pairs))  # once each, in the restarted process
    assert set(_pairs(calls, records)) == expected  # and none lost
