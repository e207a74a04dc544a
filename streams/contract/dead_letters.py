"""Dead-letter records: the original record, untouched, with the error in headers.

Headers follow Kafka Connect's dead-letter conventions (``__connect.errors.*``), so
tools that read Connect DLQs understand them, plus streamscore's own
(``__streamscore.errors.*``) for the reason code and field path. As Connect's
reporter does, a dead letter keeps the original record: key and value byte for byte,
its headers first (in order, repeated names and binary values as they were), then
the error headers, and its Kafka timestamp (the time it was written is
``__streamscore.errors.time``). ``streamscore dlq replay`` puts the record back on its
source topic after a fix, with its own headers and timestamp and a
``__streamscore.replayed.from`` header.

A replayed record that fails again: the error headers of its earlier failure are
dropped (these describe the new one), its ``__streamscore.replayed.from`` is kept.

>>> rec = InRecord(Origin("events", 3, 42, 1_767_225_600_000), b"acct-1", b"{oops",
...                [("trace-id", b"t-1")])
>>> dl = dead_letter(rec, Problem("malformed_json", None, "x"), stage="parse",
...                  dlq_topic="events.dlq", now_ms=1)
>>> dl.value, dl.headers[0], dict(dl.headers)[H_OFFSET], dl.timestamp_ms
(b'{oops', ('trace-id', b't-1'), b'42', 1767225600000)
>>> dead = InRecord(Origin("events.dlq", 0, 7), dl.key, dl.value, dl.headers)
>>> again = replay_records([dead], ReplaySelection(), to_topic=None)[0]
>>> again.topic, again.timestamp_ms
('events', 1767225600000)
>>> again.headers
[('trace-id', b't-1'), ('__streamscore.replayed.from', b'events.dlq/0/7')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streams
from streams.contract.records import Headers, InRecord, Origin, OutRecord, header
from streams.contract.validation import Problem

PROCESSOR = "streamscore-scorer"

H_TOPIC = "__connect.errors.topic"
H_PARTITION = "__connect.errors.partition"
H_OFFSET = "__connect.errors.offset"
H_CONNECTOR = "__connect.errors.connector.name"
H_STAGE = "__connect.errors.stage"
H_CLASS = "__connect.errors.class.name"
H_EXC_CLASS = "__connect.errors.exception.class.name"
H_EXC_MESSAGE = "__connect.errors.exception.message"
H_REASON = "__streamscore.errors.reason"
H_FIELD = "__streamscore.errors.field"
H_VERSION = "__streamscore.processor.version"
H_TIME = "__streamscore.errors.time"
H_TIMESTAMP = "__streamscore.source.timestamp"
H_REPLAYED_FROM = "__streamscore.replayed.from"

RESERVED_PREFIXES = ("__connect.errors.", "__streamscore.")
"""Header names dead letters add; replay removes every one of them from a record."""


def _earlier_error(name: str) -> bool:
    """True for a header of an earlier failure (a replayed record failing again)."""
    return name.startswith(RESERVED_PREFIXES) and name != H_REPLAYED_FROM


def dead_letter(
    rec: InRecord,
    problem: Problem,
    *,
    stage: str,
    dlq_topic: str,
    now_ms: int,
    processor: str = PROCESSOR,
) -> OutRecord:
    """The DLQ record for a rejected input: the original key, value, headers and
    timestamp, then the error in headers (``now_ms``: when it was written)."""
    origin: Origin = rec.origin
    headers: Headers = [h for h in rec.read_headers() if not _earlier_error(h[0])]
    headers += [
        (H_TOPIC, origin.topic.encode()),
        (H_PARTITION, str(origin.partition).encode()),
        (H_OFFSET, str(origin.offset).encode()),
        (H_CONNECTOR, processor.encode()),
        (H_STAGE, stage.encode()),
        (H_CLASS, f"streams.{stage}".encode()),
        (H_EXC_CLASS, b"streams.contract.validation.Problem"),
        (H_EXC_MESSAGE, problem.message.encode("utf-8", "replace")),
        (H_REASON, problem.reason.encode()),
        (H_FIELD, (problem.field or "").encode()),
        (H_VERSION, streams.__version__.encode()),
        (H_TIME, str(now_ms).encode()),
    ]
    if origin.timestamp_ms is not None:
        headers.append((H_TIMESTAMP, str(origin.timestamp_ms).encode()))
    return OutRecord(dlq_topic, rec.key, rec.value, headers, origin.timestamp_ms)


@dataclass(frozen=True)
class ReplaySelection:
    """Which dead letters to replay: by reason, source partition and offset range."""

    reasons: frozenset[str] = frozenset()  # empty: every reason
    partition: int | None = None
    from_offset: int = 0
    to_offset: int | None = None  # inclusive
    limit: int | None = None

    def matches(self, rec: InRecord) -> bool:
        """True if the dead letter ``rec`` is selected."""
        reason = header(rec.headers, H_REASON)
        if self.reasons and reason not in self.reasons:
            return False
        src_partition = header(rec.headers, H_PARTITION)
        src_offset = int(header(rec.headers, H_OFFSET) or -1)
        if self.partition is not None and src_partition != str(self.partition):
            return False
        return src_offset >= self.from_offset and (
            self.to_offset is None or src_offset <= self.to_offset
        )


def replay_records(
    dead: Sequence[InRecord], selection: ReplaySelection, to_topic: str | None
) -> list[OutRecord]:
    """The records to re-publish to the source (or ``to_topic``): the original key,
    value, headers (the dead letter's without :data:`RESERVED_PREFIXES`) and timestamp
    (``__streamscore.source.timestamp``; none: the producer's), plus
    ``__streamscore.replayed.from`` = ``<dlq topic>/<partition>/<offset>``."""
    out: list[OutRecord] = []
    for rec in dead:
        if selection.limit is not None and len(out) >= selection.limit:
            break
        target = to_topic or header(rec.headers, H_TOPIC)
        if target is None or not selection.matches(rec):
            continue
        o = rec.origin
        headers = [h for h in rec.read_headers() if not h[0].startswith(RESERVED_PREFIXES)]
        headers.append((H_REPLAYED_FROM, f"{o.topic}/{o.partition}/{o.offset}".encode()))
        timestamp = header(rec.headers, H_TIMESTAMP)
        ts = int(timestamp) if timestamp and timestamp.isdigit() else None
        out.append(OutRecord(target, rec.key, rec.value, headers, ts))
    return out
