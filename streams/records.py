"""Records in and out of a processor, and where each one came from.

Every consumed record carries its :class:`Origin` (topic, partition, offset, Kafka
timestamp) into logs, output records and DLQ headers.

>>> Origin("events", 2, 10).log_context()
{'topic': 'events', 'partition': 2, 'offset': 10}
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

Headers = list[tuple[str, str | bytes | None]]  # as confluent-kafka types them


# msgspec Structs, not NamedTuples or frozen dataclasses: one of each is built per
# consumed record, and a Struct is built in C (a NamedTuple's __new__ is Python code);
# gc=False: they hold only strings, numbers, bytes and header lists, never a cycle.
# bench/hotpath.py measures the three.
class Origin(msgspec.Struct, frozen=True, gc=False):
    """Where a record came from."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    def log_context(self) -> dict[str, object]:
        """The ``extra=`` dict for a log line about this record."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


class InRecord(msgspec.Struct, frozen=True, gc=False):
    """A consumed record: its origin, raw key and value, and headers when read."""

    origin: Origin
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None


class OutRecord(msgspec.Struct, frozen=True, gc=False):
    """A record to produce (to ``partition``, or where the partitioner puts its key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None
    partition: int | None = None


def header(headers: Sequence[tuple[str, str | bytes | None]] | None, name: str) -> str | None:
    """The decoded value of header ``name`` (the last one wins), or None."""
    found = None
    for k, v in headers or ():
        if k == name and v is not None:
            found = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return found
