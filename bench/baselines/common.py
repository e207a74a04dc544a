"""What the baselines share: the score record, their output topics, and the output check.

The score record is the one streamscore writes (``schemas/score.schema.json``: event
fields, score, decision, model version, the feature vector, source offset), so every
pipeline encodes the same bytes' worth of work per event.

Imports only the standard library, :mod:`streams.model.features` and
:mod:`streams.contract.decisions` at module level: the Quix
pipeline imports this module in its own venv. :func:`check_outputs` needs the main venv.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from streams.contract.decisions import DECISIONS
from streams.model.features import FEATURE_NAMES

if TYPE_CHECKING:
    from streams.config import Settings


def decide(score: float, review: float, decline: float) -> str:
    """``approve`` below ``review``, ``decline`` at or above ``decline``, else ``review``."""
    return DECISIONS[(score >= review) + (score >= decline)]


def score_record(
    event: dict[str, Any],
    features: Sequence[float],
    score: float,
    decision: str,
    version: str,
    source: tuple[str, int, int],
    timestamp_ms: int | None,
    now_ms: int,
) -> dict[str, Any]:
    """One event's score record, as streamscore writes it (NaN features encode as null)."""
    topic, partition, offset = source
    return {
        "event_id": event["event_id"],
        "account_id": event["account_id"],
        "event_time": event["event_time"],
        "score": score,
        "decision": decision,
        "model_version": version,
        "fallback": False,
        "features": dict(zip(FEATURE_NAMES, features, strict=True)),
        "event_timestamp": timestamp_ms,
        "scored_at": now_ms,
        "source": {"topic": topic, "partition": partition, "offset": offset},
    }


def output_topics(settings: Settings, name: str) -> tuple[str, str]:
    """The scores and DLQ topics of baseline ``name``: its own, so its output can be counted."""
    return f"{settings.topic_scores}.{name}", f"{settings.topic_dlq}.{name}"


def _count(settings: Settings, topic: str, sample: int) -> tuple[int, list[bytes]]:
    """Committed records in ``topic`` (read_committed, to the end) and the first ``sample``."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from streams.kafka import make_consumer, watermarks

    ends = {p: high for p, (low, high) in watermarks(settings, topic).items() if high > low}
    consumer = make_consumer(settings, "bench-count")
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        count, values = 0, []
        while ends:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    count += 1
                    if len(values) < sample:
                        values.append(msg.value())
            # positions, not offsets seen: transaction markers occupy offsets too
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    ends.pop(tp.partition)
        return count, values
    finally:
        consumer.close()


def check_outputs(settings: Settings, name: str, group: str) -> dict[str, int]:
    """Count baseline ``name``'s outputs against the input offsets its group committed.

    Every committed input offset must have produced exactly one record: a score or a
    dead letter. Sample score records are checked against the score schema and sample
    dead letters must fail validation. Raises RuntimeError when records are missing.
    """
    import orjson

    from streams.contract.schemas import validator
    from streams.contract.validation import Problem, parse_event
    from streams.kafka import committed_total

    scores_topic, dlq_topic = output_topics(settings, name)
    committed = committed_total(settings, group, settings.topic_events)
    scores, score_sample = _count(settings, scores_topic, 200)
    dlq, dlq_sample = _count(settings, dlq_topic, 200)
    schema = validator("score")
    bad = sum(not schema.is_valid(orjson.loads(v)) for v in score_sample)
    bad += sum(not isinstance(parse_event(v), Problem) for v in dlq_sample)
    counts = {"committed": committed, "scores": scores, "dlq": dlq, "bad_samples": bad}
    print(f"{name} outputs: {counts}", flush=True)
    if scores + dlq < committed or bad:
        raise RuntimeError(f"{name}: outputs do not account for the committed input: {counts}")
    return counts
