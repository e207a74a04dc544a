"""Synthetic card-payment events with ground-truth fraud labels, drift, messy input and feedback.

Pure and deterministic by seed: no Kafka, no global random state. Independent
random streams (spawned from one ``SeedSequence``) drive the events, drift,
labels, corruption and feedback, so turning on messy input or feedback does not
change the events, and a drift leaves every event before its start unchanged.

The label is drawn from :func:`fraud_probability` of the event's true features
(before corruption or drift-removed fields), so it is noisy by construction.
Feedback label delays are **exponential** in event time with mean ``delay_mean_s``.

- :mod:`~streams.dev.generator.config`: what to generate, and the records it makes;
- :mod:`~streams.dev.generator.world`: the synthetic world's parameters;
- :mod:`~streams.dev.generator.fraud`: the ground-truth fraud relation;
- :mod:`~streams.dev.generator.engine`: accounts, random streams, clock, drift;
- :mod:`~streams.dev.generator.stream`: events and feedback, in time order.

>>> recs = list(generate(GeneratorConfig(seed=1, count=3, accounts=50)))
>>> [r.topic for r in recs], recs[0].value[:25]
(['events', 'events', 'events'], b'{"event_id":"ev-1-0","eve')
"""

from streams.dev.generator.config import (
    CleanEvents,
    DriftSpec,
    FeedbackSpec,
    GeneratorConfig,
    Record,
)
from streams.dev.generator.fraud import fraud_probability
from streams.dev.generator.stream import generate, generate_events_clean
from streams.dev.messy import MESSY_KINDS, MessySpec

__all__ = [
    "MESSY_KINDS",
    "CleanEvents",
    "DriftSpec",
    "FeedbackSpec",
    "GeneratorConfig",
    "MessySpec",
    "Record",
    "fraud_probability",
    "generate",
    "generate_events_clean",
]
