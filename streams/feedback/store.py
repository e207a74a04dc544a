"""Where the join's entries live: the protocol the join needs, and a dict-backed store.

The join reads entries in bulk (``get_many``), writes a batch's changes at once
(``apply``: each change names the entry's expiry, so the store can index it) and asks
what is due to expire (``due``). :class:`DictStore` serves tests and in-memory faust
tables, with an expiry heap per partition; the RocksDB store of
:mod:`streams.kafka.faust_batch` keeps its expiry index in RocksDB itself, so memory
does not grow with the state.

>>> store = DictStore({})
>>> store.apply(0, [("e1", b"v", 10), ("e2", b"w", 30)])
>>> store.get_many(0, ["e1", "nope"]), len(store)
([b'v', None], 2)
>>> store.due(0, now=20)
[('e1', 10)]
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Protocol

Change = tuple[str, bytes | None, int]
"""An entry written (value) or deleted (None), with its expiry (event-time ms)."""


class JoinStore(Protocol):
    """The join's view of its state, per partition."""

    def get_many(self, partition: int, keys: Sequence[str]) -> list[bytes | None]:
        """The stored values of ``keys`` (None where there is none)."""

    def apply(self, partition: int, changes: Sequence[Change]) -> None:
        """Write and delete, indexing each written entry under its expiry."""

    def due(self, partition: int, now: int) -> list[tuple[str, int]]:
        """Index entries expiring before ``now``, removed from the index: (key, expiry).
        An entry may have been written again since, with a later expiry: the caller
        checks."""

    def __len__(self) -> int:
        """Entries stored (an estimate where counting would mean reading them all)."""


class DictStore:
    """A :class:`JoinStore` over a mapping of key → stored value, with an expiry heap
    per partition (rebuilt from the mapping by :meth:`rebuild_index`)."""

    def __init__(
        self,
        data: MutableMapping[Any, Any],
        to_key: Callable[[str], Any] = str,
        expiry_of: Callable[[Any], tuple[int, int]] | None = None,
    ) -> None:
        self.data = data
        self._to_key = to_key
        self._expiry_of = expiry_of
        self._heaps: dict[int, list[tuple[int, str]]] = {}

    def get_many(self, partition: int, keys: Sequence[str]) -> list[bytes | None]:
        get, to_key = self.data.get, self._to_key
        return [get(to_key(k)) for k in keys]

    def apply(self, partition: int, changes: Sequence[Change]) -> None:
        heap = self._heaps.setdefault(partition, [])
        for key, value, exp in changes:
            if value is None:
                self.data.pop(self._to_key(key), None)
            else:
                self.data[self._to_key(key)] = value
                heapq.heappush(heap, (exp, key))

    def due(self, partition: int, now: int) -> list[tuple[str, int]]:
        heap, out = self._heaps.get(partition, []), []
        while heap and heap[0][0] < now:
            exp, key = heapq.heappop(heap)
            out.append((key, exp))
        return out

    def rebuild_index(self) -> None:
        """The expiry heaps from the mapping's entries (after a restore or a rebalance)."""
        if self._expiry_of is None:
            raise ValueError("rebuild_index needs expiry_of: the (expiry, partition) of a value")
        self._heaps = {}
        for key, value in self.data.items():
            exp, partition = self._expiry_of(value)
            name = key.decode() if isinstance(key, bytes) else key
            heapq.heappush(self._heaps.setdefault(partition, []), (exp, name))

    def __len__(self) -> int:
        return len(self.data)
