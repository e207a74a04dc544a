"""Hostile input through the scorer's pure core: exactly one output per record, a score
or a dead letter with the original bytes and a reason; never an exception."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.junk import Hostile, hostile
from streams.config import Settings
from streams.contract.dead_letters import H_REASON, H_REPLAYED_FROM, RESERVED_PREFIXES
from streams.contract.records import Headers, InRecord, Origin, OutRecord, header
from streams.contract.validation import REASONS, Problem, parse_event
from streams.dev.generator import GeneratorConfig, generate
from streams.model.artifact import Model, load_model
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="module")
def pipeline() -> ScoringPipeline:
    model: Model = load_model(MODELS)
    return ScoringPipeline(model, PipelineConfig())


def kept_headers(headers: Headers | None) -> Headers:
    """The original headers a dead letter keeps: all but an earlier failure's."""
    return [
        (k, v)
        for k, v in headers or []
        if not k.startswith(RESERVED_PREFIXES) or k == H_REPLAYED_FROM
    ]


def check_outputs(batch: list[InRecord], out: list[OutRecord]) -> Counter[str]:
    """One output per input, in order: a score for what the reference parser accepts,
    else a dead letter with its key, value and kept headers and the reference's reason."""
    assert len(out) == len(batch)
    reasons: Counter[str] = Counter()
    for rec, res in zip(batch, out, strict=True):
        reference = parse_event(rec.value)
        if isinstance(reference, Problem):
            assert res.topic == "events.dlq", (rec.value, reference)
            assert (res.key, res.value) == (rec.key, rec.value)
            kept = kept_headers(rec.headers)
            assert (res.headers or [])[: len(kept)] == kept
            assert header(res.headers, H_REASON) == reference.reason
            reasons[reference.reason] += 1
        else:
            assert res.topic == "scores", rec.value
            assert orjson.loads(res.value or b"")["event_id"] == reference["event_id"]
            reasons["scored"] += 1
    return reasons


def as_batch(records: list[Hostile], start: int = 0) -> list[InRecord]:
    return [
        InRecord(Origin("events", i % 4, start + i, 1_000 + i), k, v, h)
        for i, (k, v, h) in enumerate(records)
    ]


def test_deterministic_by_seed() -> None:
    assert hostile(5, 400) == hostile(5, 400)
    assert hostile(5, 400) != hostile(6, 400)
    assert hostile(5, 400)[:100] == hostile(5, 100)  # a prefix does not depend on count


def test_the_corpus_has_every_kind() -> None:
    limit, depth = Settings().max_payload_bytes, Settings().max_depth
    records = hostile(1, 3_000)
    values = [v for _, v, _ in records]
    assert None in values and b"" in values
    assert any(k is None for k, _, _ in records)
    assert any(v is not None and len(v) == limit for v in values)
    assert any(v is not None and len(v) == limit + 1 for v in values)
    assert any(v is not None and b"[" * (depth + 1) in v for v in values)
    for literal in (b"NaN", b"Infinity", b"1e400", b"9" * 400, b'"12.5"', b"\\u0000"):
        assert any(v is not None and literal in v for v in values), literal
    headers = [h for _, _, h in records if h]
    assert any(len(h) >= 500 for h in headers)
    assert any(len(v or b"") >= 65_536 for h in headers for _, v in h)
    reasons = Counter(
        p.reason if isinstance(p := parse_event(v), Problem) else "scored" for v in values
    )
    assert set(reasons) == {*REASONS, "scored"} - {"key_mismatch"}  # events have no key rule


def test_every_hostile_record_gets_exactly_one_output(pipeline: ScoringPipeline) -> None:
    batch = as_batch(hostile(11, 4_000))
    reasons = check_outputs(batch, pipeline.process(batch, now_ms=7).records)
    assert reasons["scored"] > 0 and sum(reasons.values()) == len(batch)


def test_interleaved_with_valid_events_in_small_batches(pipeline: ScoringPipeline) -> None:
    valid = [r for r in generate(GeneratorConfig(seed=12, count=2_000)) if r.topic == "events"]
    junk = hostile(12, 2_000)
    mixed: list[Hostile] = []
    for v, j in zip(valid, junk, strict=True):
        mixed += [(v.key, v.value, None), j]
    batch = as_batch(mixed)
    out: list[OutRecord] = []
    for at in range(0, len(batch), 250):
        out += pipeline.process(batch[at : at + 250], now_ms=7).records
    reasons = check_outputs(batch, out)
    assert reasons["scored"] >= sum(r.valid for r in valid)


@settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 120))
def test_any_seed(pipeline: ScoringPipeline, seed: int, count: int) -> None:
    batch = as_batch(hostile(seed, count))
    check_outputs(batch, pipeline.process(batch, now_ms=1).records)


def test_a_key_written_with_an_escape_is_still_a_duplicate(pipeline: ScoringPipeline) -> None:
    base = next(r.value for r in generate(GeneratorConfig(seed=2, count=5)) if r.topic == "events")
    twice = base[:-1] + b',"\\u0061mount":999}'  # "amount" again: parsers disagree on which wins
    problem = parse_event(twice)
    assert isinstance(problem, Problem) and (problem.reason, problem.field) == (
        "duplicate_key",
        "amount",
    )
    out = pipeline.process(as_batch([(None, twice, None)]), now_ms=1).records[0]
    assert out.topic == "events.dlq"


def test_an_extra_objects_keys_are_not_the_events(pipeline: ScoringPipeline) -> None:
    base = next(r.value for r in generate(GeneratorConfig(seed=2, count=5)) if r.topic == "events")
    for extra in (b'{"amount":1,"event_id":"x"}', b'[{"amount":1},{"amount":2}]'):
        raw = base[:-1] + b',"meta":' + extra + b"}"
        out = pipeline.process(as_batch([(None, raw, None)]), now_ms=1).records[0]
        assert out.topic == "scores", parse_event(raw)
        assert orjson.loads(out.value or b"")["event_id"] == orjson.loads(base)["event_id"]
    still = base[:-1] + b',"meta":{"a":[1]},"amount":1}'  # nested, and a real duplicate
    assert parse_event(still) == Problem("duplicate_key", "amount", "field appears more than once")


def test_interleave_puts_mix_hostile_records_after_each_valid_one() -> None:
    from bench.junk_throughput import interleave

    valid: list[Hostile] = [(None, b"v%d" % i, None) for i in range(30)]
    junk: list[Hostile] = [(None, b"j%d" % i, None) for i in range(30)]
    values = [v for _, v, _ in interleave(iter(valid), junk, 0.1)]
    assert values[:11] == [b"v%d" % i for i in range(10)] + [b"j0"]
    assert len(values) == 33 and values.count(b"j2") == 1
    ones = [v for _, v, _ in interleave(iter(valid), junk, 1.0)]
    assert ones[:4] == [b"v0", b"j0", b"v1", b"j1"] and len(ones) == 60
