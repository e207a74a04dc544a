"""The join's state in a faust table, read and written a batch at a time.

faust keeps the table's files (a RocksDB per partition), its changelog topic and its
recovery; the join reads and writes entries in bulk through these stores, which also
keep its expiry index: in RocksDB, in a column family of its own (so memory does not
grow with the state), or in a heap for in-memory tables (tests, the demo). RocksDB's
errors (a full volume, a directory that is no longer writable) come out as
:class:`~streams.feedback.health.StoreFailed`.

>>> store = table_store(table)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from faust.stores import rocksdb as faust_rocksdb

from streams.feedback.entries import expiry_of
from streams.feedback.health import StoreFailed, StoreHealth
from streams.feedback.store import Change, DictStore, JoinStore

log = logging.getLogger(__name__)

_EXPIRY = "join_expiry"  # the column family of the expiry index: expiry (8 bytes) + key


def _expiry_family(db: Any, write_buffer_size: int) -> tuple[Any, Any]:
    """The expiry index's column family in a partition DB (made the first time, with
    the table's memtable budget: RocksDB's default is 64 MB a memtable, outside the
    joiner's memory settings): a view to read it, and the handle writes name. Not
    kept: faust closes a revoked partition's DB by dropping every reference to it."""
    import rocksdict

    try:
        view = db.get_column_family(_EXPIRY)
    except Exception:  # rocksdict raises its own error for a family not there yet
        options = rocksdict.Options(raw_mode=True)
        options.set_write_buffer_size(write_buffer_size)
        options.set_max_write_buffer_number(2)
        view = db.create_column_family(_EXPIRY, options)
    return view, db.get_column_family_handle(_EXPIRY)


def _write_buffer_size(table: Any) -> int:
    """The table's memtable size (its RocksDB options), for the index's family too."""
    return int((getattr(table, "options", None) or {}).get("write_buffer_size", 1 << 20))


def _index_key(exp: int, key: bytes) -> bytes:
    return max(exp, 0).to_bytes(8, "big") + key


class RocksTableStore:
    """The join's store over a faust table in RocksDB, one DB per partition, with the
    expiry index in a column family of its own (faust opens every family it finds)."""

    def __init__(self, table: Any) -> None:
        self.table = table  # a faust Table: its store's private per-partition DBs are used

    def _db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(partition)

    def get_many(self, partition: int, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values: list[bytes | None] = self._db(partition)[[k.encode() for k in keys]]
        except Exception as exc:  # rocksdict raises Exception itself
            raise StoreFailed(str(exc)) from exc
        return values

    def apply(self, partition: int, changes: Sequence[Change]) -> None:
        try:
            self._apply(partition, changes)
        except Exception as exc:  # rocksdict raises Exception itself
            raise StoreFailed(str(exc)) from exc

    def _apply(self, partition: int, changes: Sequence[Change]) -> None:
        import rocksdict

        db = self._db(partition)
        _, index = _expiry_family(db, _write_buffer_size(self.table))
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value, exp in changes:
            if value is None:
                batch.delete(key.encode())
            else:
                batch.put(key.encode(), value)
                batch.put(_index_key(exp, key.encode()), b"", index)
        db.write(batch)

    def due(self, partition: int, now: int) -> list[tuple[str, int]]:
        try:
            return self._due(partition, now)
        except Exception as exc:  # rocksdict raises Exception itself
            raise StoreFailed(str(exc)) from exc

    def _due(self, partition: int, now: int) -> list[tuple[str, int]]:
        import rocksdict

        db, out = self._db(partition), []
        view, index = _expiry_family(db, _write_buffer_size(self.table))
        upper = _index_key(now, b"")
        it, batch = view.iter(), rocksdict.WriteBatch(raw_mode=True)
        it.seek_to_first()
        while it.valid() and it.key() < upper:
            key = it.key()
            out.append((key[8:].decode(), int.from_bytes(key[:8], "big")))
            batch.delete(key, index)
            it.next()
        if out:
            db.write(batch)
        return out

    def __len__(self) -> int:
        """RocksDB's estimate of the entries (counting them would read them all)."""
        total = 0
        for db in list(self.table.data._dbs.values()):
            total += db.property_int_value("rocksdb.estimate-num-keys") or 0
        return total


def table_store(table: Any) -> JoinStore:
    """The join's store over ``table``: in RocksDB, or in memory (tests, the demo)."""
    if isinstance(table.data, faust_rocksdb.Store):
        return RocksTableStore(table)
    return DictStore(table.data.data, to_key=str.encode, expiry_of=expiry_of)


class JoinTable(faust.Table[bytes, bytes]):
    """faust's Table; restoring a RocksDB partition from the changelog also rebuilds the
    join's expiry index there (a write that fails is :class:`StoreFailed`, told to
    ``store_health``), and the end of a restore is logged with what it took
    (``join state restored``)."""

    _rebalanced_at = 0.0
    _restored = 0
    store_health: StoreHealth | None = None  # told when a restore cannot write

    def apply_changelog_batch(self, batch: Any) -> None:
        events = list(batch)
        self._restored += len(events)
        if not isinstance(self.data, faust_rocksdb.Store):
            return super().apply_changelog_batch(events)
        try:
            restore(self.data, events)
        except Exception as exc:  # rocksdict raises Exception itself
            failed = StoreFailed(str(exc))
            if self.store_health is not None:
                self.store_health.failed(failed)
            raise failed from exc

    async def on_rebalance(self, assigned: Any, revoked: Any, newly: Any, gen: int = 0) -> None:
        self._rebalanced_at, self._restored = time.monotonic(), 0
        await super().on_rebalance(assigned, revoked, newly, gen)

    async def on_recovery_completed(self, active_tps: Any, standby_tps: Any) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        seconds = time.monotonic() - self._rebalanced_at
        log.info(
            "join state restored",
            extra={
                "partitions": sorted(tp.partition for tp in active_tps),
                "changelog_records": self._restored,
                "seconds": round(seconds, 3),
            },
        )


def restore(store: Any, batch: Any) -> None:
    """Write changelog events to the partition DBs of a faust RocksDB ``store``, with the
    expiry index, and record each changelog partition's offset."""
    import rocksdict

    by_partition: dict[int, list[Any]] = {}
    offsets: dict[Any, int] = {}
    for event in batch:
        msg = event.message
        by_partition.setdefault(msg.partition, []).append(msg)
        if msg.offset > offsets.get(msg.tp, -1):
            offsets[msg.tp] = msg.offset
    for partition, messages in by_partition.items():
        db = store._db_for_partition(partition)
        _, index = _expiry_family(db, _write_buffer_size(getattr(store, "table", None)))
        wb = rocksdict.WriteBatch(raw_mode=True)
        for m in messages:
            if m.value is None:
                wb.delete(m.key)
            else:
                wb.put(m.key, m.value)
                wb.put(_index_key(expiry_of(m.value)[0], m.key), b"", index)
        db.write(wb)
    for tp, offset in offsets.items():
        store.set_persisted_offset(tp, offset)
