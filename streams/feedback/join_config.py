"""What the join is told (:class:`JoinConfig`), what it counts (:class:`JoinCounts`), and
whom it tells of new labels (:data:`FirstLabel`, :data:`ShadowLabel`).

>>> JoinConfig(retention_ms=DAY_MS).labelled_topic
'labelled'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from streams.config import Settings, default
from streams.feedback.entries import State

DAY_MS = 86_400_000


@dataclass(frozen=True)
class JoinConfig:
    """Output topics and retention (defaults: the settings')."""

    labelled_topic: str = default("topic_labelled")
    unmatched_topic: str = default("topic_feedback_unmatched")
    retention_ms: int = default("join_retention_ms")

    @classmethod
    def from_settings(cls, settings: Settings) -> JoinConfig:
        """The join's part of the settings."""
        return cls(
            settings.topic_labelled, settings.topic_feedback_unmatched, settings.join_retention_ms
        )


@dataclass
class JoinCounts:
    """What the join did (exported as metrics)."""

    joined: int = 0
    corrections: int = 0
    duplicates: int = 0
    duplicate_scores: int = 0
    replayed: int = 0  # inputs read again after a crash or rebalance
    reemitted: int = 0  # labelled records emitted again by those replays
    expired: int = 0
    unmatched: Counter[str] = field(default_factory=Counter)
    shadow_scores: int = 0  # scores.shadow records kept (replays are counted as replayed)
    shadow_copies: int = 0  # another record of a version's shadow score: the first stays
    shadow_late: int = 0  # for an event whose score expired: dropped
    shadow_labelled: int = 0  # shadow scores given their event's first label


FirstLabel = Callable[[State], None]
"""Called with each new (not corrected, not replayed) labelled value: online quality."""
ShadowLabel = Callable[[str, int, float, int], None]
"""Called once per shadow score and event with its first label: (version, label, score,
time), the time the label's (or, for a shadow score that came after it, the clock's)."""
