"""Dead-letter records: the original bytes, untouched, with the error in headers.

Headers follow Kafka Connect's dead-letter conventions (``__connect.errors.*``), so
tools that read Connect DLQs understand them, plus streamscore's own
(``__streamscore.errors.*``) for the reason code and field path. The record keeps
the original key and value byte for byte, so ``streamscore dlq replay`` can put it
back on its source topic after a fix.

>>> origin = Origin("events", 3, 42, 1_767_225_600_000)
>>> rec = dead_letter(origin, b"acct-1", b"{oops", Problem("malformed_json", None, "x"),
...                   stage="parse", dlq_topic="events.dlq", now_ms=1)
>>> rec.value, dict(rec.headers)["__connect.errors.offset"]
(b'{oops', b'42')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streams
from streams.records import Headers, InRecord, Origin, OutRecord, header
from streams.validation import Problem

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


def dead_letter(
    origin: Origin,
    key: bytes | None,
    value: bytes | None,
    problem: Problem,
    *,
    stage: str,
    dlq_topic: str,
    now_ms: int,
    processor: str = PROCESSOR,
) -> OutRecord:
    """The DLQ record for a rejected input: original key and value, error in headers."""
    headers: Headers = [
        (H_TOPIC, origin.topic.encode()),
        (H_PARTITION, str(origin.partition).encode()),
        (H_OFFSET, str(origin.offset).encode()),
        (H_CONNECTOR, processor.encode()),
        (H_STAGE, stage.encode()),
        (H_CLASS, f"streams.{stage}".encode()),
        (H_EXC_CLASS, b"streams.validation.Problem"),
        (H_EXC_MESSAGE, problem.message.encode("utf-8", "replace")),
        (H_REASON, problem.reason.encode()),
        (H_FIELD, (problem.field or "").encode()),
        (H_VERSION, streams.__version__.encode()),
        (H_TIME, str(now_ms).encode()),
    ]
    if origin.timestamp_ms is not None:
        headers.append((H_TIMESTAMP, str(origin.timestamp_ms).encode()))
    return OutRecord(dlq_topic, key, value, headers)


H_REPLAYED_FROM = "__streamscore.replayed.from"


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
    """The records to re-publish: original key and value to the source (or ``to_topic``)."""
    out: list[OutRecord] = []
    for rec in dead:
        if selection.limit is not None and len(out) >= selection.limit:
            break
        target = to_topic or header(rec.headers, H_TOPIC)
        if target is None or not selection.matches(rec):
            continue
        o = rec.origin
        marker = f"{o.topic}/{o.partition}/{o.offset}".encode()
        out.append(OutRecord(target, rec.key, rec.value, [(H_REPLAYED_FROM, marker)]))
    return out
