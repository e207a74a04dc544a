"""The join's state in a faust table, read and written a batch at a time.

faust keeps the table's files (a RocksDB per partition), its changelog topic and its
recovery; the join reads and writes entries in bulk through these stores, which also
keep its expiry index: in RocksDB, under keys sorted after every entry's (so memory does
not grow with the state), or in a heap for in-memory tables (tests, the demo).

>>> store = table_store(table)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
from faust.stores import rocksdb as faust_rocksdb

from streams.feedback.entries import expiry_of
from streams.feedback.store import Change, DictStore, JoinStore

_INDEX = b"\xff\xffx"  # expiry index keys: _INDEX + expiry (8 bytes, big-endian) + key
_COUNT = b"\xff\xffn"  # the number of entries in a partition's DB


class RocksTableStore:
    """The join's store over a faust table in RocksDB, one DB per partition."""

    def __init__(self, table: Any) -> None:
        self.table = table  # a faust Table: its store's private per-partition DBs are used

    def _db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(partition)

    def get_many(self, partition: int, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values: list[bytes | None] = self._db(partition)[[k.encode() for k in keys]]
        return values

    def apply(self, partition: int, changes: Sequence[Change], added: int = 0) -> None:
        import rocksdict

        db, batch = self._db(partition), rocksdict.WriteBatch(raw_mode=True)
        for key, value, exp in changes:
            if value is None:
                batch.delete(key.encode())
            else:
                batch.put(key.encode(), value)
                batch.put(_INDEX + exp.to_bytes(8, "big") + key.encode(), b"")
        if added:
            batch.put(_COUNT, str(_count(db) + added).encode())
        db.write(batch)

    def due(self, partition: int, now: int) -> list[tuple[str, int]]:
        import rocksdict

        db, out = self._db(partition), []
        upper = _INDEX + max(now, 0).to_bytes(8, "big")
        it, batch = db.iter(), rocksdict.WriteBatch(raw_mode=True)
        it.seek(_INDEX)
        while it.valid() and it.key() < upper:
            key = it.key()
            out.append((key[11:].decode(), int.from_bytes(key[3:11], "big")))
            batch.delete(key)
            it.next()
        if out:
            db.write(batch)
        return out

    def __len__(self) -> int:
        total = 0
        for db in list(self.table.data._dbs.values()):
            total += _count(db)
        return total


def _count(db: Any) -> int:
    value = db.get(_COUNT)
    return int(value) if value is not None else 0


def table_store(table: Any) -> JoinStore:
    """The join's store over ``table``: in RocksDB, or in memory (tests, the demo)."""
    if isinstance(table.data, faust_rocksdb.Store):
        return RocksTableStore(table)
    return DictStore(table.data.data, to_key=str.encode, expiry_of=expiry_of)


class JoinTable(faust.Table[bytes, bytes]):
    """faust's Table; restoring a RocksDB partition from the changelog also rebuilds the
    join's expiry index and entry count there."""

    def apply_changelog_batch(self, batch: Any) -> None:
        if isinstance(self.data, faust_rocksdb.Store):
            restore(self.data, batch)
        else:
            super().apply_changelog_batch(batch)


def restore(store: Any, batch: Any) -> None:
    """Write changelog events to the partition DBs of a faust RocksDB ``store``, with the
    expiry index and entry count, and record each changelog partition's offset."""
    import rocksdict

    writes: dict[int, Any] = {}
    present: dict[tuple[int, bytes], bool] = {}  # key -> stored, as of this batch
    added: dict[int, int] = {}
    offsets: dict[Any, int] = {}
    for event in batch:
        msg = event.message
        partition, key, value = msg.partition, msg.key, msg.value
        db = store._db_for_partition(partition)
        wb = writes.setdefault(partition, rocksdict.WriteBatch(raw_mode=True))
        was = present.get((partition, key))
        if was is None:
            was = db.get(key) is not None
        if value is None:
            wb.delete(key)
        else:
            wb.put(key, value)
            wb.put(_INDEX + expiry_of(value)[0].to_bytes(8, "big") + key, b"")
        present[(partition, key)] = value is not None
        added[partition] = added.get(partition, 0) + (value is not None) - was
        offsets[msg.tp] = max(offsets.get(msg.tp, -1), msg.offset)
    for partition, wb in writes.items():
        db = store._db_for_partition(partition)
        wb.put(_COUNT, str(_count(db) + added[partition]).encode())
        db.write(wb)
    for tp, offset in offsets.items():
        store.set_persisted_offset(tp, offset)
