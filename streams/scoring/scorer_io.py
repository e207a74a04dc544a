"""What the scorer's loop needs of its Kafka I/O: :class:`ScorerIO`.

:class:`~streams.kafka.batch.BatchIO` is it on a broker, and
:class:`~streams.dev.memory_io.MemoryIO` in tests and broker-less benchmarks (mypy
checks both against it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from streams.contract.records import InRecord, OutRecord


class ScorerIO(Protocol):
    """What the loop needs of its Kafka I/O: :class:`~streams.kafka.batch.BatchIO`, or
    :class:`~streams.dev.memory_io.MemoryIO` in tests and broker-less benchmarks."""

    @property
    def assigned(self) -> Collection[tuple[str, int]] | None:
        """The partitions this scorer owns now."""

    @property
    def revoked(self) -> bool:
        """Partitions were revoked during the last poll."""

    def poll_batch(
        self, max_size: int, max_wait_s: float, linger_s: float = 0.0, /
    ) -> list[InRecord]:
        """What has arrived, up to ``max_size``; waits up to ``max_wait_s`` for one."""

    def poll_more(self, batch: list[InRecord], max_size: int, /) -> list[InRecord]:
        """``batch`` and what has arrived since, without waiting."""

    def owned(self, batch: list[InRecord], /) -> list[InRecord]:
        """The records of partitions still assigned."""

    def committing(self) -> bool:
        """The batch sent last is still committing."""

    def wait_commit(self, timeout_s: float, /) -> None:
        """Wait up to ``timeout_s`` for the commit in flight."""

    def send(self, outputs: Sequence[OutRecord], batch: Sequence[InRecord], /) -> None:
        """Start delivering ``batch``'s outputs (raises BatchAborted after a rewind)."""

    def settle(self) -> dict[str, float]:
        """Wait for the batch in flight; its stage seconds (raises BatchAborted)."""

    def broker_reachable(self) -> bool:
        """True if the broker answers."""

    def close(self) -> None:
        """Leave the group and flush."""
