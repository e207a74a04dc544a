"""The velocity state's memory, bounded: once more than ``max_resident`` accounts are in
memory, those least recently touched move out to a local store (RocksDB:
:class:`~streams.scoring.state_store.AccountStore`), and come back when an event of
theirs does.

Pure bookkeeping over a :class:`Spill` (the store's four calls; tests use
:class:`~streams.dev.memory_spill.DictSpill`). The
rules, written down:

- an account is in memory or in the store, never both: :meth:`Spilling.page_in` takes
  it out of the store;
- an account moves out only after a commit, and only if no transaction in flight
  changed it (its undo needs it in memory);
- expiry looks in the store too: an account there past the retention comes back to
  memory first, then expires as any other (undo kept, tombstones written).

A batch with events of accounts in the store costs one multi-get and one write batch
per partition; a commit that moves accounts out, one write batch (each account's state
encoded as a snapshot is, ~20 B per kept event).

>>> from streams.dev.memory_spill import DictSpill
>>> from streams.model.velocity import AccountFeatures, VelocityConfig
>>> spill = DictSpill()
>>> s = Spilling(spill, max_resident=1)
>>> part, logs = AccountFeatures(VelocityConfig()), {}
>>> _ = part.observe("a", 1_000, 5.0, None, None); logs["a"] = (0, 0, 0)
>>> _ = part.observe("b", 2_000, 5.0, None, None); logs["b"] = (0, 0, 0)
>>> s.touched([(0, "a"), (0, "b")]); s.evict({0: part}, {0: logs}, pending=set)
1
>>> sorted(part.accounts), sorted(spill.kept[0])
(['b'], ['a'])
>>> s.page_in(0, {"a"}, part, logs); sorted(part.accounts), spill.kept[0]
(['a', 'b'], {})
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol

from streams.model.account_window import AccountState, AccountWindows
from streams.model.velocity import AccountFeatures
from streams.scoring.state_changelog import Log

Key = tuple[int, str]  # (partition, account)


class Spill(Protocol):
    """Where accounts out of memory are kept, per partition."""

    def put(self, partition: int, accounts: Mapping[str, tuple[Log, AccountState]]) -> None: ...
    def take(
        self, partition: int, accounts: Collection[str]
    ) -> dict[str, tuple[Log, AccountState]]: ...
    def older(self, partition: int, before: int) -> list[str]: ...
    def clear(self, partition: int) -> None: ...


class Spilling:
    """Which accounts are in memory, least recently touched first, and moving them out
    and back."""

    def __init__(self, spill: Spill, max_resident: int) -> None:
        self.spill = spill
        self.max_resident = max_resident
        self.out: dict[int, int] = {}  # per partition, its accounts in the store
        self.moved_out = 0
        self.moved_in = 0
        # in memory (and stale keys of accounts gone since), least recently touched first
        self._recent: dict[Key, None] = {}

    def touched(self, keys: Iterable[Key]) -> None:
        """These accounts were touched (or came into memory) now."""
        recent = self._recent
        for key in keys:
            recent.pop(key, None)
            recent[key] = None

    def page_in(
        self, p: int, accounts: Collection[str], part: AccountFeatures, logs: dict[str, Log]
    ) -> None:
        """Bring those of ``accounts`` (of partition ``p``, not in memory) kept in the
        store back into memory."""
        if not self.out.get(p) or not accounts:
            return
        back = self.spill.take(p, accounts)
        for account, (log, state) in back.items():
            part.accounts[account] = AccountWindows(state)
            logs[account] = log
        self.out[p] -= len(back)
        self.moved_in += len(back)
        self.touched((p, a) for a in back)

    def page_in_older(
        self, p: int, before: int, part: AccountFeatures, logs: dict[str, Log]
    ) -> None:
        """Bring back the store's accounts of ``p`` whose latest event is before ``before``
        (expiry then drops them as any other)."""
        if self.out.get(p):
            self.page_in(p, self.spill.older(p, before), part, logs)

    def evict(
        self,
        parts: Mapping[int, AccountFeatures],
        logs: Mapping[int, dict[str, Log]],
        pending: Callable[[], Collection[Key]],
    ) -> int:
        """After a commit: move out the least recently touched accounts that no
        transaction in flight changed (``pending()``, asked only when some must move),
        until at most ``max_resident`` are in memory; how many moved."""
        excess = sum(len(part.accounts) for part in parts.values()) - self.max_resident
        if excess <= 0:
            return 0
        in_flight = pending()
        victims, stale = [], []
        for key in self._recent:  # oldest first; stops once enough are found
            part = parts.get(key[0])
            if part is None or key[1] not in part.accounts:
                stale.append(key)  # expired or revoked since
            elif key not in in_flight:
                victims.append(key)
                if len(victims) == excess:
                    break
        for key in stale:
            del self._recent[key]
        by_partition: dict[int, list[str]] = {}
        for key in victims:
            del self._recent[key]
            by_partition.setdefault(key[0], []).append(key[1])
        for p, accounts in by_partition.items():
            self.move_out(p, accounts, parts[p], logs[p])
        return len(victims)

    def move_out(
        self, p: int, accounts: Collection[str], part: AccountFeatures, logs: dict[str, Log]
    ) -> None:
        """Move these accounts of partition ``p`` (in memory, no undo pending) to the
        store (one write batch)."""
        out = {a: (logs.pop(a), part.accounts.pop(a).state) for a in accounts}
        self.spill.put(p, out)
        self.out[p] = self.out.get(p, 0) + len(out)
        self.moved_out += len(out)

    def revoke(self, p: int) -> None:
        """Partition ``p`` went: its accounts in the store go too (its keys in memory
        are dropped as stale)."""
        self.spill.clear(p)
        self.out.pop(p, None)
