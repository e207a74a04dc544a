"""An in-memory stand-in for :class:`~streams.kafka.batch.BatchIO`: the scorer's loop
with no broker, for tests and the broker-less benchmarks.

Records "arrive" when ``arrive`` is called by a poll; a sent batch "commits" until
``commit_polls`` more polls have been made or :meth:`MemoryIO.settle` waits for it (no
clock, so what the loop does during a commit is deterministic).

>>> from streams.contract.records import Origin
>>> io = MemoryIO(lambda room: [InRecord(Origin("events", 0, 7), None, b"{}")][:room])
>>> [r.origin.offset for r in io.poll_batch(10, 0.0)]
[7]
>>> io.send([], [])
>>> io.committing(), io.settle(), io.log
(False, {'commit_wait': 0.0}, ['poll', 'send', 'settle'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streams.contract.records import InRecord, OutRecord
from streams.kafka.batch import owned_by
from streams.scoring.scorer_io import ScorerIO

Arrive = Callable[[int], list[InRecord]]
"""Called by each poll with the room left in the batch: the records that came."""


class MemoryIO:
    """The parts of BatchIO the scorer uses, in memory."""

    def __init__(
        self,
        arrive: Arrive,
        commit_polls: int = 0,
        on_send: Callable[[Sequence[OutRecord], Sequence[InRecord]], None] | None = None,
        keep_sent: bool = True,
    ) -> None:
        self.arrive, self.commit_polls, self.on_send = arrive, commit_polls, on_send
        self.keep_sent = keep_sent  # False: a long run's outputs are not kept in memory
        self.log: list[str] = []  # what the loop did, in order: poll, send, settle
        self.sent: list[tuple[list[OutRecord], list[InRecord]]] = []  # (outputs, inputs)
        self.assigned: set[tuple[str, int]] | None = None  # None: every partition
        self.revoked = False  # partitions were revoked in the last poll (see revoke)
        self.closed = False
        self._left = 0  # polls until the commit in flight is through

    def revoke(self, topic: str, partition: int) -> None:
        """Revoke a partition now (call it from ``arrive``: revokes happen in polls)."""
        if self.assigned is None:
            raise ValueError("give MemoryIO.assigned the partitions first")
        self.assigned.discard((topic, partition))
        self.revoked = True

    def owned(self, batch: list[InRecord]) -> list[InRecord]:
        return batch if self.assigned is None else owned_by(batch, self.assigned)

    def poll_batch(self, max_size: int, *_waits: float) -> list[InRecord]:
        self.revoked = False
        self._left = max(self._left - 1, 0)
        self.log.append("poll")
        return self.owned(self.arrive(max_size))

    def poll_more(self, batch: list[InRecord], max_size: int) -> list[InRecord]:
        more = self.poll_batch(max_size - len(batch), 0.0)
        return (self.owned(batch) if self.revoked else batch) + more

    def committing(self) -> bool:
        return self._left > 0

    def wait_commit(self, _timeout_s: float) -> None:
        """Returns at once: the next poll brings the commit one step nearer its end."""

    def settle(self) -> dict[str, float]:
        waited = 0.005 if self._left else 0.0  # as if the commit took that long more
        self._left = 0
        self.log.append("settle")
        return {"commit_wait": waited}

    def send(self, outputs: Sequence[OutRecord], batch: Sequence[InRecord]) -> None:
        self.log.append("send")
        if self.keep_sent:
            self.sent.append((list(outputs), list(batch)))
        if self.on_send is not None:
            self.on_send(outputs, batch)
        self._left = self.commit_polls

    def broker_reachable(self, _timeout_s: float = 2.0) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def _is_scorer_io(io: MemoryIO) -> ScorerIO:
    return io  # mypy checks here that MemoryIO is a ScorerIO, as BatchIO is
