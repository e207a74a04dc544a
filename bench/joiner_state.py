"""The joiner's RocksDB state at rest: bytes on disk, entries, bytes per entry.

>>> state_at_rest(Path("/nonexistent"))
{'bytes': 0, 'entries': 0, 'bytes_per_entry': None, 'dbs': 0}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _entries(db_dir: Path) -> int:
    """The keys of a partition DB's default column family (the table's entries; the
    expiry index has a family of its own), read with the joiner stopped."""
    import rocksdict

    db = rocksdict.Rdict(
        str(db_dir),
        options=rocksdict.Options(raw_mode=True),
        access_type=rocksdict.AccessType.read_only(),
    )
    try:
        it, n = db.iter(), 0
        it.seek_to_first()
        while it.valid():
            n += 1
            it.next()
        return n
    finally:
        db.close()


def state_at_rest(data_dir: Path) -> dict[str, Any]:
    """Every RocksDB under ``data_dir`` (the joiner's, stopped): total bytes on disk
    (tables, logs and manifests), entries, and bytes per entry."""
    dbs = sorted(p for p in data_dir.rglob("*.db") if p.is_dir())
    size = sum(f.stat().st_size for d in dbs for f in d.rglob("*") if f.is_file())
    entries = sum(_entries(d) for d in dbs)
    per = round(size / entries, 1) if entries else None
    return {"bytes": size, "entries": entries, "bytes_per_entry": per, "dbs": len(dbs)}
