"""The joiner's readiness, and what it does when its local store cannot be written.

``/readyz`` calls :meth:`JoinerHealth.checks` from the HTTP server's thread: partitions
assigned, broker reachable (a probe of its own, never faust's clients), store writable.

A store that refuses a write (its volume full, its directory made read-only or
immutable) stops the joiner: RocksDB keeps refusing writes after such an error until
the database is opened again, so waiting in place would not recover. The batch that
failed is not committed (its records, outputs and changelog records were not sent), so
the joiner logs what to fix and exits with :data:`EXIT_STORE`; started again once the
volume is fixed, it reads those records again, nothing lost. At start, a store
directory that cannot take a small file stops it the same way, before it joins the group.

>>> health = StoreHealth()
>>> health.failed(StoreFailed("IO error: No space left on device"))
>>> health.writable, health.failures
(False, 1)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from streams.errors import StreamscoreError

log = logging.getLogger(__name__)

EXIT_STORE = 4
"""The joiner's exit code when its store could not be written (fix the volume, restart)."""

_PROBE_BYTES = 64 * 1024  # a RocksDB write of a few batches: a volume without it fails soon


class StoreFailed(StreamscoreError):
    """The join's local store (RocksDB) refused a read or a write."""


def fix_message(data_dir: Path, error: str) -> str:
    """What the log and stderr say when the store failed: the error and the fix."""
    return (
        f"the join store in {data_dir} cannot be written ({error}): free space on its "
        "volume or make the directory writable again, then start the joiner again; no "
        "offset was committed for the records it could not store, they are read again"
    )


def probe_writable(data_dir: Path) -> None:
    """Write, sync and remove a small file in ``data_dir`` (made if missing); StoreFailed
    if the volume is full, read-only or not ours."""
    probe = data_dir / ".streamscore-write-probe"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as f:
            f.write(b"\0" * _PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        probe.unlink(missing_ok=True)
        raise StoreFailed(fix_message(data_dir, f"{exc.strerror or exc}")) from exc


class StoreHealth:
    """Whether the join's store took the last batch's writes (the batch handler and the
    table's restore record failures; readiness and the exit code read them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0
        self.error = ""

    @property
    def writable(self) -> bool:
        """True until a write failed."""
        return self.failures == 0

    def failed(self, exc: BaseException) -> None:
        """The store refused a write with ``exc``."""
        with self._lock:
            self.failures += 1
            self.error = str(exc)


class JoinerHealth:
    """The checks of the joiner's ``/readyz``."""

    def __init__(
        self,
        assigned: Callable[[], set[tuple[str, int]]],
        broker_reachable: Callable[[], bool],
        store: StoreHealth,
    ) -> None:
        self._assigned, self._broker, self.store = assigned, broker_reachable, store

    def checks(self) -> dict[str, bool]:
        """``partitions_assigned``, ``broker_reachable``, ``store_writable``."""
        return {
            "partitions_assigned": bool(self._assigned()),
            "broker_reachable": self._broker(),
            "store_writable": self.store.writable,
        }
