"""Example ``scores``, ``feedback`` and ``scores.shadow`` records, parsed (for the docs'
examples and tests).

>>> feedback_record("e1", label=1, label_time=5_000)["feedback_id"]
'fb-e1-5000'
"""

from __future__ import annotations

from typing import Any

from streams.feedback.entries import State


def score_record(event_id: str, event_time: int, score: float = 0.5, **extra: Any) -> State:
    """A schema-valid parsed score record (for examples and tests)."""
    base = {
        "event_id": event_id,
        "account_id": "a",
        "event_time": event_time,
        "score": score,
        "decision": "approve",
        "model_version": "v",
        "fallback": False,
        "features": {},
        "event_timestamp": event_time,
        "scored_at": event_time,
        "source": {"topic": "events", "partition": 0, "offset": 0},
    }
    return {**base, **extra}


def feedback_record(
    event_id: str, label: int, label_time: int, feedback_id: str | None = None
) -> State:
    """A minimal parsed feedback record (for examples and tests)."""
    return {
        "feedback_id": feedback_id or f"fb-{event_id}-{label_time}",
        "event_id": event_id,
        "label": label,
        "label_source": "chargeback",
        "label_time": label_time,
    }


def shadow_record(
    event_id: str, event_time: int, model_version: str = "v2", score: float = 0.5
) -> State:
    """A schema-valid parsed ``scores.shadow`` record (for examples and tests): a shadow
    challenger's score of an event the champion ``v`` decided."""
    return {
        "event_id": event_id,
        "account_id": "a",
        "event_time": event_time,
        "model_version": model_version,
        "role": "shadow",
        "score": score,
        "decision": "approve",
        "deciding_version": "v",
        "deciding_score": 0.5,
        "scored_at": event_time,
        "source": {"topic": "events", "partition": 0, "offset": 0},
    }
