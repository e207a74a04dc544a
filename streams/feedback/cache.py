"""The join's entries for one batch: read in bulk, changed in a cache, written back together.

:class:`EntryCache` is what :class:`~streams.feedback.join.Join` keeps its entries in
between two flushes. Over a :class:`~streams.feedback.store.JoinStore` (RocksDB through
faust in production) a batch's entries are read in one call per partition
(:meth:`EntryCache.prefetch`) and written back in one (:meth:`EntryCache.flush`, which
returns the changes for the changelog). Over a plain dict (tests) the join writes through
at once, record by record.

>>> cache = EntryCache({}, retention_ms=10)
>>> cache._put("e1", Entry(0, 2), time_ms=5)
>>> [(key, exp) for key, _, exp in cache.flush()[2]], len(cache)
([('e1', 15)], 1)
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from streams.feedback.entries import Entry, decode, encode, expiry_of
from streams.feedback.store import Change, DictStore, JoinStore


class EntryCache:
    """Entries read this batch, and which of them changed, over a store (or a dict)."""

    def __init__(self, state: JoinStore | MutableMapping[Any, Any], retention_ms: int) -> None:
        self.state = state
        self.retention_ms = retention_ms
        self.store: JoinStore
        if isinstance(state, MutableMapping):  # a plain dict: write through, per record
            self.store, self._through = DictStore(state, expiry_of=expiry_of), True
        else:
            self.store, self._through = state, False
        self._cache: dict[str, Entry | None] = {}  # read this batch; None: none stored
        self._dirty: dict[str, int] = {}  # changed this batch -> partition

    def prefetch(self, partition: int, keys: Sequence[str]) -> None:
        """Read the entries of ``keys`` in one call, for the records of a batch."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._cache]
        for key, value in zip(missing, self.store.get_many(partition, missing), strict=True):
            self._cache[key] = None if value is None else decode(value)

    def _load(self, partition: int, key: str) -> Entry | None:
        if key not in self._cache:
            self.prefetch(partition, [key])
        return self._cache[key]

    def _put(self, key: str, entry: Entry, time_ms: int) -> None:
        """``entry`` changed by a record of (event or label) time ``time_ms``: it now
        expires no sooner than the retention after it."""
        entry.exp = max(entry.exp, time_ms + self.retention_ms)
        self._cache[key], self._dirty[key] = entry, entry.p

    def _set(self, key: str, entry: Entry | None, partition: int) -> None:
        """Replace ``key``'s entry (None: delete it) as it is, expiry included."""
        self._cache[key], self._dirty[key] = entry, partition

    def flush(self) -> dict[int, list[Change]]:
        """Write the batch's changes to the store; them, per partition (for the changelog)."""
        out: dict[int, list[Change]] = {}
        for key, partition in self._dirty.items():
            entry = self._cache[key]
            change = (key, None, 0) if entry is None else (key, encode(entry), entry.exp)
            out.setdefault(partition, []).append(change)
        for partition, changes in out.items():
            self.store.apply(partition, changes)
        self._cache, self._dirty = {}, {}
        return out

    def rebuild_index(self) -> None:
        """Rebuild the store's expiry index from its entries (after a restore), if it
        keeps one in memory."""
        rebuild = getattr(self.store, "rebuild_index", None)
        if rebuild is not None:
            rebuild()

    def __len__(self) -> int:
        """Entries stored (markers of expired scores included)."""
        return len(self.store)
