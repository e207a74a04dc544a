"""The join's RocksDB store on real RocksDB files: entries, the expiry index in its own
column family, and a restore from changelog records that rebuilds that index."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import rocksdict

from streams.feedback.entries import Entry, encode
from streams.feedback.tables import RocksTableStore, restore


class _Data:
    """What the store uses of faust's RocksDB store: a DB per partition (the same
    rocksdict DBs faust opens), and the persisted changelog offsets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dbs: dict[int, Any] = {}
        self.persisted: dict[Any, int] = {}

    def _db_for_partition(self, partition: int) -> Any:
        if partition not in self._dbs:
            path = str(self.root / f"p{partition}")
            self._dbs[partition] = rocksdict.Rdict(path, options=rocksdict.Options(raw_mode=True))
        return self._dbs[partition]

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[tp] = offset


def _store(root: Path) -> tuple[RocksTableStore, _Data]:
    data = _Data(root)
    return RocksTableStore(SimpleNamespace(data=data)), data


def test_entries_and_their_expiry_round_trip(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    e1, e2 = encode(Entry(100, 0)), encode(Entry(300, 0))
    store.apply(0, [("e1", e1, 100), ("e2", e2, 300)])
    assert store.get_many(0, ["e1", "e2", "nope"]) == [e1, e2, None]
    assert store.due(0, 200) == [("e1", 100)]
    assert store.due(0, 200) == []  # taken once: its index row is gone
    store.apply(0, [("e1", None, 0)])
    assert store.get_many(0, ["e1"]) == [None]
    assert store.due(1, 10**12) == []  # another partition, another DB


def test_a_restore_from_the_changelog_rebuilds_the_expiry_index(tmp_path: Path) -> None:
    store, data = _store(tmp_path)
    tp = ("changelog", 2)
    rows = [("a", Entry(50, 2)), ("b", Entry(500, 2)), ("a", Entry(70, 2))]
    events = [
        SimpleNamespace(
            message=SimpleNamespace(partition=2, key=k.encode(), value=encode(e), offset=i, tp=tp)
        )
        for i, (k, e) in enumerate(rows)
    ]
    deleted = SimpleNamespace(partition=2, key=b"b", value=None, offset=3, tp=tp)
    restore(data, [*events, SimpleNamespace(message=deleted)])
    assert data.persisted == {tp: 3}
    assert store.get_many(2, ["a", "b"]) == [encode(Entry(70, 2)), None]
    # both index rows of "a" are due by 100 (the join re-checks an entry's own expiry)
    assert sorted(store.due(2, 100)) == [("a", 50), ("a", 70)]
