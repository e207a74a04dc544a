"""The scorer's velocity state: per input partition, its accounts' windows, and what each
transaction changed, to write to the changelog and to undo if it aborts.

Pure (no Kafka): the scorer feeds it each batch's valid events in order and tells it
when a transaction goes out, commits or aborts; it hands back the features and the
changelog records (one per account a batch touched: key the account id, value the
account's :class:`~streams.model.account_window.AccountState`, on the event's own
partition number, so a partition's state is in the same-numbered changelog partition).

The order, written down: events are observed (state changes, undo kept) -> their
changelog records go into the batch's transaction with its outputs and offsets ->
:meth:`sent` -> :meth:`committed` when that transaction commits, which forgets the
undo; :meth:`aborted` when it aborts, which undoes every batch not committed yet (the
scorer rewinds them all and they come again). A partition's state is rebuilt from its
changelog, read committed, when it is assigned (:meth:`restore`).

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
from operator import itemgetter

import numpy as np

from streams.config import Settings
from streams.contract.events import ROW_INDEX
from streams.contract.records import Origin, OutRecord
from streams.contract.wire import Row
from streams.model.account_window import (
    AccountState,
    AccountWindows,
    decode_state,
    encode_state,
)
from streams.model.features import Matrix
from streams.model.velocity import HOUR_MS, VELOCITY_FEATURES, AccountFeatures, VelocityConfig

Event = tuple[str, int, float, str | None, str | None]
"""What velocity reads of an event: account, event time, amount, merchant category, country."""

events_of: Callable[[Row], Event] = itemgetter(
    *(ROW_INDEX[n] for n in ("account_id", "event_time", "amount", "merchant_category", "country"))
)
"""The :data:`Event` of a validated event's row."""

ChangelogReader = Callable[[Collection[int]], Mapping[int, Iterable[tuple[bytes, bytes | None]]]]
"""Reads the changelog partitions given to their end (read committed): their (key, value)s."""

# the undo of one batch: per (partition, account), its state before (None: it was new)
Undo = dict[tuple[int, str], bytes | None]


@dataclass
class Observed:
    """A batch's velocity features (a row per event, NaN missing), cold starts and the
    changelog records of the accounts it touched."""

    features: Matrix
    cold: list[bool]
    changelog: list[OutRecord] = field(default_factory=list)


def account_states(settings: Settings) -> AccountStates:
    """The scorer's (empty) velocity state, as the settings configure it."""
    config = VelocityConfig(settings.velocity_lateness_ms, settings.velocity_retention_ms)
    return AccountStates(config, settings.topic_accounts_changelog)


class AccountStates:
    """Velocity state per assigned partition, with undo for the transactions in flight."""

    def __init__(self, config: VelocityConfig, changelog_topic: str) -> None:
        self.config = config
        self.topic = changelog_topic
        self._parts: dict[int, AccountFeatures] = {}
        self._open: Undo = {}  # the batches since the last transaction went out
        self._sent: list[Undo] = []  # transactions out, not committed yet, oldest first
        self._mark: dict[int, int] = {}  # per partition, its latest event time
        self._swept: dict[int, int] = {}  # per partition, the mark at its last sweep

    def observe(self, events: Sequence[Event], origins: Sequence[Origin]) -> Observed:
        """Each event's features in order (it then joins its account's state), and a
        changelog record per account touched (its state after the batch)."""
        rows, cold = [], []
        touched: dict[tuple[int, str], AccountWindows] = {}
        for event, origin in zip(events, origins, strict=True):
            part = self._part(origin.partition)
            key = (origin.partition, event[0])
            if key not in self._open:  # first change since the last transaction went out
                before = part.accounts.get(event[0])
                self._open[key] = None if before is None else encode_state(before.state)
            values, is_cold = part.observe(*event)
            rows.append(values)
            cold.append(is_cold)
            touched[key] = part.accounts[event[0]]
            self._mark[origin.partition] = max(self._mark.get(origin.partition, 0), event[1])
        features = np.array(rows, dtype=np.float64).reshape(len(rows), len(VELOCITY_FEATURES))
        gone = self._expire({p for p, _ in touched})
        changelog = [
            OutRecord(self.topic, account.encode(), encode_state(w.state), partition=p)
            for (p, account), w in touched.items()
            if (p, account) not in gone
        ]
        changelog += [OutRecord(self.topic, a.encode(), None, partition=p) for p, a in gone]
        return Observed(features, cold, changelog)

    def _expire(self, partitions: Iterable[int]) -> set[tuple[int, str]]:
        """Drop the accounts whose latest event is more than retention + lateness behind
        their partition's latest event time (undo kept; the caller writes tombstones).

        An account's next event would be a cold start anyway, unless it is more than
        ``lateness_ms`` behind the partition's latest: such an event may find its account
        expired. A sweep scans a partition's accounts once per hour of its event time."""
        cfg, gone = self.config, set()
        for p in partitions:
            mark = self._mark[p]
            if mark - self._swept.get(p, 0) < HOUR_MS:
                continue
            self._swept[p] = mark
            part, before = self._parts[p], mark - cfg.retention_ms - cfg.lateness_ms
            for account in [a for a, w in part.accounts.items() if w.state.last_time < before]:
                if (p, account) not in self._open:
                    self._open[(p, account)] = encode_state(part.accounts[account].state)
                del part.accounts[account]
                gone.add((p, account))
        return gone

    def sent(self) -> None:
        """The changes observed so far went out in a transaction."""
        self._sent.append(self._open)
        self._open = {}

    def committed(self) -> None:
        """The oldest transaction out committed: its changes stay."""
        if self._sent:
            self._sent.pop(0)

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

    @property
    def partitions(self) -> set[int]:
        """The partitions with a state: restored, or observed since."""
        return set(self._parts)

    def _undo(self, undo: Undo) -> None:
        for (p, account), before in undo.items():
            part = self._parts.get(p)
            if part is None:
                continue  # revoked meanwhile: nothing to undo
            if before is None:
                part.accounts.pop(account, None)
            else:
                part.accounts[account] = AccountWindows(decode_state(before))

    def restore(self, partition: int, records: Iterable[tuple[bytes, bytes | None]]) -> int:
        """Rebuild a newly assigned partition's state from its changelog records in
        order (the last one of an account wins; a None value deletes); how many accounts."""
        part = self._parts[partition] = AccountFeatures(self.config)
        states: dict[str, bytes | None] = {}
        for key, value in records:
            states[key.decode()] = value
        for account, value in states.items():
            if value is not None:
                part.accounts[account] = AccountWindows(decode_state(value))
        mark = max((w.state.last_time for w in part.accounts.values()), default=0)
        self._mark[partition] = self._swept[partition] = mark
        return len(part.accounts)

    def follow(self, assigned: Collection[int], read: ChangelogReader) -> dict[int, int]:
        """Keep the state of exactly the ``assigned`` partitions: a revoked one's goes, a
        newly assigned one's is restored from what ``read`` returns of its changelog
        (before its first event is observed); the accounts restored per partition."""
        for p in self.partitions - set(assigned):
            self.revoke(p)
        new = [p for p in assigned if p not in self._parts]
        if not new:
            return {}
        return {p: self.restore(p, records) for p, records in read(new).items()}

    def revoke(self, partition: int) -> None:
        """A partition went to another scorer: its state goes."""
        self._parts.pop(partition, None)
        self._mark.pop(partition, None)
        self._swept.pop(partition, None)

    def accounts(self, partition: int) -> dict[str, AccountState]:
        """A partition's accounts' states (for tests and the benchmark)."""
        part = self._parts.get(partition)
        return {} if part is None else {a: w.state for a, w in part.accounts.items()}

    def _part(self, partition: int) -> AccountFeatures:
        part = self._parts.get(partition)
        if part is None:  # assigned without a changelog to restore (a new topic)
            part = self._parts[partition] = AccountFeatures(self.config)
        return part
