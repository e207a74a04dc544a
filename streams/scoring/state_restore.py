"""Where a newly assigned partition's velocity state comes from, and where it goes at a
clean stop.

With an :class:`~streams.scoring.state_store.AccountStore` (``velocity_store:
rocksdb``): a partition's usable checkpoint and the changelog after its offset; without
one (or none usable), the whole changelog. With the memory bound on
(:mod:`streams.scoring.account_spill`), a checkpoint's accounts stay in the store (no
longer a checkpoint) and come back to memory with their events, those the changelog
after it touched first; else they are read into memory and the partition's keys
cleared before it is rebuilt (the store then holds only what moves out of memory: a
restore from the changelog moves accounts out as it goes). At a clean stop,
after the last commit, every partition's accounts in memory join those in the store,
saved as a checkpoint at the changelog's end then, which covers every record the scorer
wrote: a committed transaction's records are appended before its commit returns.

The order, written down: the last transaction commits -> the changelog's ends are read ->
each partition's accounts in memory are written, then its checkpoint mark. The Kafka
reads are the caller's (the scorer's factory passes them from :mod:`streams.kafka`).

>>> from streams.scoring.account_state import AccountStates, VelocityConfig
>>> restorer = StateRestorer(lambda starts: {p: [] for p in starts})
>>> restorer.restore(AccountStates(VelocityConfig(), "accounts"), [0, 1])
{0: Restored(accounts=0, from_checkpoint=None), 1: Restored(accounts=0, from_checkpoint=None)}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import NamedTuple

from streams.scoring.account_state import AccountStates, ChangelogReader
from streams.scoring.state_store import AccountStore, Checkpoint

log = logging.getLogger(__name__)

EndsReader = Callable[[], Mapping[int, int]]
"""The changelog partitions' ends (high watermarks)."""


class Restored(NamedTuple):
    """A partition's restore: its accounts, and those of them from a checkpoint (None:
    none was used)."""

    accounts: int
    from_checkpoint: int | None


class Checkpoints(NamedTuple):
    """The local store and what it checks a checkpoint against."""

    store: AccountStore
    topic_id: str | None  # the changelog's (Kafka's topic id); None: no checkpoints
    ends: EndsReader


class StateRestorer:
    """Restores partitions' velocity state from checkpoints (if any) and the changelog;
    saves checkpoints at a clean stop."""

    def __init__(self, read: ChangelogReader, checkpoints: Checkpoints | None = None) -> None:
        self.read = read
        self.checkpoints = checkpoints

    def follow(self, states: AccountStates, assigned: Collection[int]) -> None:
        """After a poll: ``states`` keeps exactly the ``assigned`` partitions' state, a
        newly assigned one's restored (logged) before any of its events is observed."""
        new = states.follow(assigned)
        if not new:
            return
        t0 = time.perf_counter()
        restored = self.restore(states, new)
        extra = {
            "partitions": new,
            "accounts": sum(r.accounts for r in restored.values()),
            "from_checkpoints": sum(r.from_checkpoint or 0 for r in restored.values()),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        log.info("velocity state restored", extra=extra)

    def restore(self, states: AccountStates, partitions: Sequence[int]) -> dict[int, Restored]:
        """Restore ``partitions`` (newly assigned) into ``states``."""
        if not partitions:
            return {}
        spilling = states.spilling is not None  # then a checkpoint's accounts stay put
        usable = self._usable(partitions, read=not spilling)
        starts = {p: usable[p].offset if p in usable else 0 for p in partitions}
        tails = self.read(starts)
        out = {}
        for p in partitions:
            cp, tail = usable.get(p), tails.get(p, [])
            if cp is not None and spilling:
                n = states.restore(p, tail, kept=(cp.count, cp.mark))
                self.checkpoints.store.unmark(p)  # type: ignore[union-attr]
            else:  # the store keeps none of it (read, or stale): only what moves out now
                if self.checkpoints is not None:
                    self.checkpoints.store.clear(p)
                n = states.restore(p, tail, cp.accounts if cp is not None else None)
            out[p] = Restored(n, None if cp is None else cp.count)
        return out

    def _usable(self, partitions: Sequence[int], read: bool) -> dict[int, Checkpoint]:
        """The partitions' checkpoints that can be used (why not, logged), their accounts
        read if ``read``."""
        c = self.checkpoints
        if c is None or c.topic_id is None:
            return {}
        ends, usable = c.ends(), {}
        for p in partitions:
            got = c.store.load(p, c.topic_id, ends.get(p, 0), read)
            if isinstance(got, Checkpoint):
                usable[p] = got
            elif got != "no checkpoint":
                log.info("velocity checkpoint not used", extra={"partition": p, "why": got})
        return usable

    def stopped(self, states: AccountStates) -> None:
        """A clean stop, after the last commit: :meth:`save`, logged; a failure too (the
        next start restores from the whole changelog instead)."""
        try:
            saved = self.save(states)
        except Exception as exc:  # RocksDB's and Kafka's errors alike: the state is in Kafka
            log.warning("velocity checkpoints not saved", extra={"error": repr(exc)})
            return
        if saved:
            in_store = states.sizes()[1]  # of them, those kept out of memory while it ran
            log.info("velocity checkpoints saved", extra={"accounts": saved, "in_store": in_store})

    def save(self, states: AccountStates) -> int:
        """After the last commit: every partition's state, at the changelog's end; how
        many accounts (0 without checkpoints)."""
        c = self.checkpoints
        if c is None or c.topic_id is None or not states.partitions:
            return 0
        ends, kept = c.ends(), states.spilling.out if states.spilling is not None else {}
        for p in sorted(states.partitions):
            accounts, out = states.checkpoint(p), kept.get(p, 0)
            c.store.save(p, c.topic_id, ends.get(p, 0), accounts, out, states.mark(p))
        return sum(len(states.accounts(p)) + kept.get(p, 0) for p in states.partitions)

    def close(self) -> None:
        """Close the local store, if any (after :meth:`stopped`)."""
        if self.checkpoints is not None:
            self.checkpoints.store.close()
