"""What to generate: the generator's configuration, drift and feedback specs, and its records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from streams.contract import events as c
from streams.dev.generator.world import F64, I64, Bool
from streams.dev.messy import MessySpec


@dataclass(frozen=True, slots=True)
class Record:
    """One record for a logical stream, with the ground truth the tests and benchmarks need."""

    topic: Literal["events", "feedback"]  # logical stream, not a Kafka topic name
    key: bytes
    value: bytes  # exactly the bytes to put on the wire
    index: int  # event index (feedback: index of the labelled event, -1 for an unknown id)
    event_time_ms: int  # event_time, or label_time for feedback
    messy_kind: str | None  # None for clean records
    valid: bool  # expected to pass contract validation
    label: int | None  # ground-truth fraud label for events (None for feedback)
    drifted: bool  # event drawn from a drifted regime (feedback: that of the labelled event)


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """A drift from event ``start_index`` on; ``gradual`` ramps its share 0 → 1 over ``width``.

    ``amount_scale`` multiplies amount and avg_amount_30d; ``merchant_shift`` is the
    share of events moved to online_services/electronics; ``ecom_shift`` the share
    of non-ecom events moved to ecom (card not present); ``missing_features`` are
    optional fields left out; ``concept`` switches the fraud relation (new device no
    longer matters, card-present skimming at fuel/grocery appears).

    >>> DriftSpec(100, "gradual", width=50, amount_scale=3.0).kind
    'gradual'
    """

    start_index: int
    kind: Literal["abrupt", "gradual"] = "abrupt"
    width: int = 0
    amount_scale: float = 1.0
    distance_shift_km: float = 0.0
    merchant_shift: float = 0.0
    ecom_shift: float = 0.0
    missing_features: tuple[str, ...] = ()
    concept: bool = False

    def __post_init__(self) -> None:
        if self.kind == "gradual" and self.width <= 0:
            raise ValueError("a gradual drift needs width > 0")
        if set(self.missing_features) - set(c.OPTIONAL):
            raise ValueError(f"missing_features must be optional fields: {self.missing_features}")
        if not (
            0 <= self.merchant_shift <= 1 and 0 <= self.ecom_shift <= 1 and self.amount_scale > 0
        ):
            raise ValueError("shifts must be in [0, 1] and amount_scale positive")

    def active(self, index: I64, u: F64) -> Bool:
        """Which events (by index) are drawn from the drifted regime, given uniforms ``u``."""
        after = index >= self.start_index
        if self.kind == "abrupt":
            return after
        return after & (u < np.clip((index - self.start_index) / self.width, 0.0, 1.0))


@dataclass(frozen=True, slots=True)
class FeedbackSpec:
    """Delayed labels for valid events (exponential delay, mean ``delay_mean_s`` of event time).

    A legitimate event is labelled with probability ``fraction_labelled``, a fraud
    with ``fraud_fraction_labelled``. Per labelled event: ``duplicate_fraction``
    repeats the record, ``correction_fraction`` first sends the wrong label and
    later a correction with the true one, ``unknown_fraction`` adds feedback for an
    event id that was never produced. ``flush`` emits what is pending at the end.
    """

    fraction_labelled: float = 0.3
    fraud_fraction_labelled: float = 0.9
    delay_mean_s: float = 60.0
    duplicate_fraction: float = 0.02
    correction_fraction: float = 0.02
    unknown_fraction: float = 0.01
    flush: bool = True

    def __post_init__(self) -> None:
        shares = (
            self.fraction_labelled,
            self.fraud_fraction_labelled,
            self.duplicate_fraction,
            self.correction_fraction,
            self.unknown_fraction,
        )
        if not all(0.0 <= x <= 1.0 for x in shares) or self.delay_mean_s < 0:
            raise ValueError("feedback fractions must be in [0, 1] and delay_mean_s >= 0")


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """What to generate; ``count`` events (feedback comes in addition)."""

    seed: int = 7
    count: int = 10_000
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    events_per_second: float = 50.0  # simulated rate of the event clock
    accounts: int = 5_000
    messy: MessySpec | None = None
    drift: tuple[DriftSpec, ...] = ()
    feedback: FeedbackSpec | None = None
    # account takeovers per event: the account then pays again and again within a few
    # seconds of the stream, and fraud depends on its real recent behaviour
    takeovers: float = 0.0

    def __post_init__(self) -> None:
        if self.count < 0 or self.accounts < 1 or not self.events_per_second > 0:
            raise ValueError("need count >= 0, accounts >= 1 and events_per_second > 0")
        if not 0.0 <= self.takeovers < 0.1:
            raise ValueError("takeovers must be in [0, 0.1)")


class CleanEvents(NamedTuple):
    """Clean events (drift applied, no corruption) with their labels, for training."""

    events: list[dict[str, Any]]
    labels: npt.NDArray[np.int8]
    probabilities: F64
    drifted: Bool
