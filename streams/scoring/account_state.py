"""The scorer's velocity state: per input partition, its accounts' windows, and what each
transaction changed, to write to the changelog and to undo if it aborts.

Pure (no Kafka): the scorer feeds it each batch's valid events in order and tells it
when a transaction goes out, commits or aborts; it hands back the features and the
changelog records: one per account a batch touched, on the event's own partition
number (a partition's state is in the same-numbered changelog partition), a snapshot
of its state or the batch's events of it (:mod:`streams.scoring.state_changelog`).

The order, written down: events are observed (state changes, undo kept) -> their
changelog records go into the batch's transaction with its outputs and offsets ->
:meth:`sent` -> :meth:`committed` when that transaction commits, which forgets the
undo; :meth:`aborted` when it aborts, which undoes every batch not committed yet (the
scorer rewinds them all and they come again). A partition's state is rebuilt from its
changelog, read committed, when it is assigned (:meth:`restore`). With a
:class:`~streams.scoring.account_spill.Spilling`, the accounts beyond its bound wait
out of memory: :meth:`committed` moves them out, :meth:`observe` brings a batch's back.

>>> from streams.contract.records import Origin
>>> states = AccountStates(VelocityConfig(), "scores.accounts")
>>> got = states.observe([("a1", 60_000, 5.0, None, "GB")], [Origin("events", 2, 10)])
>>> got.cold, [(r.key, r.partition) for r in got.changelog]
([True], [(b'a1', 2)])
>>> states.aborted(); states.accounts(2)
{}
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from streams.config import Settings, default
from streams.contract.events import ROW_INDEX
from streams.contract.records import Origin, OutRecord
from streams.contract.wire import Row
from streams.model.account_window import AccountState, AccountWindows
from streams.model.features import Matrix
from streams.model.velocity import HOUR_MS, VELOCITY_FEATURES, AccountFeatures, VelocityConfig
from streams.scoring.state_changelog import (
    Added,
    Base,
    Log,
    delta_key,
    encode_delta,
    encode_snapshot,
    parse_key,
    replay,
)
from streams.scoring.state_undo import Before, Mark, copy_for, undone

if TYPE_CHECKING:
    from streams.scoring.account_spill import Spilling

Event = tuple[str, int, float, str | None, str | None]
"""What velocity reads of an event: account, event time, amount, merchant category, country."""

events_of: Callable[[Row], Event] = itemgetter(
    *(ROW_INDEX[n] for n in ("account_id", "event_time", "amount", "merchant_category", "country"))
)
"""The :data:`Event` of a validated event's row."""

ChangelogReader = Callable[[Mapping[int, int]], Mapping[int, Sequence[tuple[bytes, bytes | None]]]]
"""Reads the changelog partitions given from the offset given each (0: the start) to
their end (read committed): their (key, value)s."""


# the undo of one transaction: per (partition, account), what it and its log were before
Undo = dict[tuple[int, str], tuple[Before, Log | None]]


@dataclass
class Observed:
    """A batch's velocity features (a row per event, NaN missing), cold starts and the
    changelog records of the accounts it touched."""

    features: Matrix
    cold: list[bool]
    changelog: list[OutRecord] = field(default_factory=list)


def account_states(settings: Settings, spilling: Spilling | None = None) -> AccountStates:
    """The scorer's (empty) velocity state, as the settings configure it."""
    config = VelocityConfig(settings.velocity_lateness_ms, settings.velocity_retention_ms)
    return AccountStates(
        config, settings.topic_accounts_changelog, settings.velocity_snapshot_every, spilling
    )


class AccountStates:
    """Velocity state per assigned partition, with undo for the transactions in flight."""

    def __init__(
        self,
        config: VelocityConfig,
        changelog_topic: str,
        snapshot_every: int = default("velocity_snapshot_every"),
        spilling: Spilling | None = None,
    ) -> None:
        self.config = config
        self.topic = changelog_topic
        self.snapshot_every = snapshot_every
        self.spilling = spilling  # None: every account in memory
        self._parts: dict[int, AccountFeatures] = {}
        self._logs: dict[int, dict[str, Log]] = {}
        self._open: Undo = {}  # the batches since the last transaction went out
        self._sent: list[Undo] = []  # transactions out, not committed yet, oldest first
        self._mark: dict[int, int] = {}  # per partition, its latest event time
        self._swept: dict[int, int] = {}  # per partition, the mark at its last sweep

    def observe(self, events: Sequence[Event], origins: Sequence[Origin]) -> Observed:
        """Each event's features in order (it then joins its account's state), and a
        changelog record per account touched."""
        rows, cold = [], []
        if self.spilling is not None and any(self.spilling.out.values()):
            self._page_in(events, origins)
        # per (partition, account) touched, the events it added; None: it started afresh
        touched: dict[tuple[int, str], list[Added] | None] = {}
        for event, origin in zip(events, origins, strict=True):
            p, account = origin.partition, event[0]
            part, key = self._part(p), (p, account)
            if key not in self._open:  # first change since the last transaction went out
                self._open[key] = (self._before(key, part), self._logs[p].get(account))
            values, is_cold = part.observe(*event)
            rows.append(values)
            cold.append(is_cold)
            if is_cold:
                touched[key] = None
            elif (added := touched.setdefault(key, [])) is not None:
                added.append(event[1:])
            self._mark[p] = max(self._mark.get(p, 0), event[1])
        features = np.array(rows, dtype=np.float64).reshape(len(rows), len(VELOCITY_FEATURES))
        if self.spilling is not None:
            self.spilling.touched(touched)
        gone = self._expire({p for p, _ in touched})
        changelog = [
            self._record(p, a, added) for (p, a), added in touched.items() if (p, a) not in gone
        ]
        for (p, account), high in gone.items():
            keys = [account.encode(), *(delta_key(account, s) for s in range(1, high + 1))]
            changelog += [OutRecord(self.topic, k, None, partition=p) for k in keys]
        return Observed(features, cold, changelog)

    def _record(self, p: int, account: str, added: list[Added] | None) -> OutRecord:
        """The account's changelog record for this batch: a delta of what it ``added``,
        or a snapshot when it started afresh or its snapshot is due."""
        logs = self._logs[p]
        log = logs.get(account)
        if added is None or log is None or log[1] + 1 >= self.snapshot_every:
            gen = 0 if log is None else log[0] + 1
            logs[account] = (gen, 0, 0 if log is None else log[2])
            state = self._parts[p].accounts[account].state
            return OutRecord(self.topic, account.encode(), encode_snapshot(gen, state), partition=p)
        gen, slot, high = log[0], log[1] + 1, log[2]
        logs[account] = (gen, slot, max(high, slot))
        return OutRecord(
            self.topic, delta_key(account, slot), encode_delta(gen, added), partition=p
        )

    def _expire(self, partitions: Iterable[int]) -> dict[tuple[int, str], int]:
        """Drop the accounts whose latest event is more than retention + lateness behind
        their partition's latest event time (undo kept); per account dropped, its highest
        slot (the caller writes tombstones).

        An account's next event would be a cold start anyway, unless it is more than
        ``lateness_ms`` behind the partition's latest: such an event may find its account
        expired. A sweep scans a partition's accounts once per hour of its event time."""
        cfg, gone = self.config, {}
        for p in partitions:
            mark = self._mark[p]
            if mark - self._swept.get(p, 0) < HOUR_MS:
                continue
            self._swept[p] = mark
            part, logs, before = (
                self._parts[p],
                self._logs[p],
                mark - cfg.retention_ms - cfg.lateness_ms,
            )
            if self.spilling is not None:  # the store's expire as the others: back first
                self.spilling.page_in_older(p, before, part, logs)
            for account in [a for a, w in part.accounts.items() if w.state.last_time < before]:
                if (guard := part.accounts[account].guard) is not None:
                    guard()  # its marks keep its lists: it goes
                log = logs.pop(account, None)
                if (p, account) not in self._open:
                    self._open[(p, account)] = (part.accounts[account].state, log)
                del part.accounts[account]
                gone[(p, account)] = 0 if log is None else log[2]
        return gone

    def sent(self) -> None:
        """The changes observed so far went out in a transaction."""
        self._sent.append(self._open)
        self._open = {}

    def committed(self) -> None:
        """The oldest transaction out committed: its changes stay (and, with spilling,
        the least recently touched accounts beyond the bound move out of memory)."""
        if self._sent:
            self._sent.pop(0)
        if self.spilling is not None:
            self.spilling.evict(self._parts, self._logs, self._pending)

    def _pending(self) -> set[tuple[int, str]]:
        """The accounts the transactions in flight (and the batches since) changed."""
        return set(self._open).union(*self._sent)

    def aborted(self) -> None:
        """Every change not committed is undone, newest first (they come again)."""
        for undo in [self._open, *reversed(self._sent)]:
            self._undo(undo)
        self._open, self._sent = {}, []

    def discard_open(self) -> None:
        """The changes observed since the last transaction went out are undone (the scorer
        scores those events again, without a revoked partition's); the transactions out
        keep theirs, whatever their outcome."""
        self._undo(self._open)
        self._open = {}

    def sizes(self) -> tuple[int, int]:
        """How many accounts are in memory, and in the store (with spilling)."""
        out = sum(self.spilling.out.values()) if self.spilling is not None else 0
        return sum(len(part.accounts) for part in self._parts.values()), out

    @property
    def partitions(self) -> set[int]:
        """The partitions with a state: restored, or observed since."""
        return set(self._parts)

    def _page_in(self, events: Sequence[Event], origins: Sequence[Origin]) -> None:
        """The batch's accounts kept out of memory come back first (one read each partition)."""
        missing: dict[int, set[str]] = {}
        for event, origin in zip(events, origins, strict=True):
            p = origin.partition
            if event[0] not in self._part(p).accounts:
                missing.setdefault(p, set()).add(event[0])
        for p, accounts in missing.items():
            self.spilling.page_in(p, accounts, self._parts[p], self._logs[p])  # type: ignore[union-attr]

    def _before(self, key: tuple[int, str], part: AccountFeatures) -> Before:
        """What the account is before this transaction changes it; its windows' guard
        copies its lists for the marks without a copy before they are rewritten."""
        windows = part.accounts.get(key[1])
        if windows is None:
            return None
        if windows.guard is None:  # not a reference to windows: no cycle (GC freezes them)
            windows.guard = partial(self._guard, key)
        return Mark(windows.state)

    def _guard(self, key: tuple[int, str]) -> None:
        windows = self._parts[key[0]].accounts[key[1]]  # the one about to be rewritten
        copy_for((undo[key][0] for undo in (*self._sent, self._open) if key in undo), windows)

    def _undo(self, undo: Undo) -> None:
        for (p, account), (before, log) in undo.items():
            part = self._parts.get(p)
            if part is None:
                continue  # revoked meanwhile: nothing to undo
            if before is None:
                part.accounts.pop(account, None)
            elif isinstance(before, Mark):
                current = part.accounts.get(account)  # None: expired since (copied then)
                state = undone(before, None if current is None else current.state)
                part.accounts[account] = AccountWindows(state)
            else:
                part.accounts[account] = AccountWindows(before)
            if log is None:
                self._logs[p].pop(account, None)
            else:
                self._logs[p][account] = log
            if self.spilling is not None and account in part.accounts:
                self.spilling.touched([(p, account)])  # back in memory (an expiry undone)

    def restore(
        self,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        base: Base | None = None,
        kept: tuple[int, int] | None = None,
    ) -> int:
        """Rebuild a newly assigned partition's state from ``base`` (a checkpoint's
        accounts; none: empty) and its changelog records written since (all of them without
        a base), as :func:`~streams.scoring.state_changelog.replay` does. With spilling,
        ``kept``: the checkpoint's accounts stay in the store instead (how many, and the
        partition's latest event time then), those of the records come back first. How
        many accounts, in memory and in the store."""
        part = self._parts[partition] = AccountFeatures(self.config)
        logs = self._logs[partition] = {}
        mark = 0
        if kept is not None and self.spilling is not None:
            self.spilling.out[partition], mark = kept
            touched = {parse_key(key)[0] for key, _ in records}
            self.spilling.page_in(partition, touched, part, logs)
        self._mark[partition] = mark  # the overflow raises it with the accounts it moves
        overflow = None if self.spilling is None else partial(self._overflow, partition)
        replay(part, logs, records, base, overflow)
        mark = max([self._mark[partition], *(w.state.last_time for w in part.accounts.values())])
        self._mark[partition] = self._swept[partition] = mark
        if self.spilling is None:
            return len(part.accounts)
        # oldest first: they move out first (next commit)
        by_time = sorted(part.accounts, key=lambda a: part.accounts[a].state.last_time)
        self.spilling.touched((partition, a) for a in by_time)
        return len(part.accounts) + self.spilling.out.get(partition, 0)

    def _overflow(self, partition: int, rebuilt: list[str]) -> None:
        """During a restore (nothing pending): beyond the memory bound, accounts already
        rebuilt move to the store, so a restore holds at most the bound in memory (and
        the partition's compacted records, ~1.6 KB an account, until it ends)."""
        spilling, part = self.spilling, self._parts[partition]
        excess = self.sizes()[0] - spilling.max_resident  # type: ignore[union-attr]
        if excess > 0:
            going = [a for a in rebuilt if a in part.accounts][:excess]
            latest = max((part.accounts[a].state.last_time for a in going), default=0)
            self._mark[partition] = max(self._mark[partition], latest)
            spilling.move_out(partition, going, part, self._logs[partition])  # type: ignore[union-attr]

    def mark(self, partition: int) -> int:
        """The partition's latest event time (0: none yet)."""
        return self._mark.get(partition, 0)

    def follow(self, assigned: Collection[int]) -> list[int]:
        """Keep the state of exactly the ``assigned`` partitions: a revoked one's goes; the
        newly assigned ones, whose state the caller restores (:meth:`restore`) before any
        of their events is observed."""
        for p in self.partitions - set(assigned):
            self.revoke(p)
        return sorted(p for p in assigned if p not in self._parts)

    def checkpoint(self, partition: int) -> dict[str, tuple[Log, AccountState]]:
        """A partition's accounts with their changelog positions (a :data:`Base`), once
        every change is committed (ValueError if not: a checkpoint holds committed state)."""
        if self._open or self._sent:
            raise ValueError("velocity state has changes not committed: no checkpoint")
        logs = self._logs[partition]
        return {a: (logs[a], w.state) for a, w in self._parts[partition].accounts.items()}

    def revoke(self, partition: int) -> None:
        """A partition went to another scorer: its state goes."""
        for kept in (self._parts, self._logs, self._mark, self._swept):
            kept.pop(partition, None)
        if self.spilling is not None:
            self.spilling.revoke(partition)

    def accounts(self, partition: int) -> dict[str, AccountState]:
        """A partition's accounts' states (for tests and the benchmark)."""
        part = self._parts.get(partition)
        return {} if part is None else {a: w.state for a, w in part.accounts.items()}

    def _part(self, partition: int) -> AccountFeatures:
        part = self._parts.get(partition)
        if part is None:  # assigned without a changelog to restore (a new topic)
            part = self._parts[partition] = AccountFeatures(self.config)
            self._logs[partition] = {}
        return part
