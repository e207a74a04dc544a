"""Records in and out of a processor, and where each one came from.

Every consumed record carries its :class:`Origin` (topic, partition, offset, Kafka
timestamp) into logs, output records and DLQ headers.

>>> Origin("events", 2, 10).log_context()
{'topic': 'events', 'partition': 2, 'offset': 10}
>>> InRecord(Origin("events", 0, 1), None, b"{}", [("trace-id", b"t1")]).read_headers()
[('trace-id', b't1')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import msgspec

Header = tuple[str, str | bytes | None]
Headers = list[Header]  # as confluent-kafka types them


class HeaderSource(Protocol):
    """What a consumed record's headers can be read from later (a confluent-kafka Message)."""

    def headers(self) -> Sequence[Header] | Mapping[str, str | bytes | None] | None:
        """The record's headers, in order; None when it has none."""


# msgspec Structs, not NamedTuples or frozen dataclasses: one of each is built per
# consumed record, and a Struct is built in C (a NamedTuple's __new__ is Python code);
# gc=False: they hold strings, numbers, bytes, header lists and consumed messages,
# never a cycle. bench/hotpath.py measures the three.
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
    """A consumed record: its origin, raw key and value, and headers when read.

    The scorer reads no headers while it polls: only dead letters need them, and
    reading every record's would cost ~0.4 µs per record with one header
    (bench/headers.py); it keeps the consumed message as ``source`` instead (no cost
    measured), and :meth:`read_headers` reads them from it.
    """

    origin: Origin
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None
    source: HeaderSource | None = None

    def read_headers(self) -> Headers:
        """The record's headers in order (``headers``, else read from ``source``); a copy."""
        return list(self.headers) if self.headers is not None else headers_of(self.source)


def headers_of(source: HeaderSource | None) -> Headers:
    """``source``'s headers in order, as a new list ([] when it has none)."""
    found = source.headers() if source is not None else None
    if isinstance(found, Mapping):
        return list(found.items())
    return list(found or ())


class OutRecord(msgspec.Struct, frozen=True, gc=False):
    """A record to produce; ``timestamp_ms`` None: the producer's time (CreateTime now);
    ``partition`` None: where the partitioner puts its key."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None
    timestamp_ms: int | None = None
    partition: int | None = None


def header(headers: Sequence[tuple[str, str | bytes | None]] | None, name: str) -> str | None:
    """The decoded value of header ``name`` (the last one wins), or None."""
    found = None
    for k, v in headers or ():
        if k == name and v is not None:
            found = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return found
