"""The velocity state's local store (RocksDB, through rocksdict): the accounts a scorer
keeps out of memory while it runs, and each partition's checkpoint when it stops.

While the scorer runs, a partition's keys hold exactly its accounts that are not in
memory (:class:`~streams.scoring.account_spill.Spilling` moves them out and back), and
no checkpoint: when a partition is assigned, its checkpoint's accounts either stay as
accounts out of memory (its ``meta`` key removed) or are read and the keys cleared
(:mod:`streams.scoring.state_restore`). At a clean stop, after the last commit, the
accounts in memory join them and a ``meta`` key makes the whole a checkpoint at the
changelog's end then: a restart (or a partition assigned back) restores from it and
only the changelog written after its offset, not the whole compacted changelog.

A checkpoint is used only if it is of the same topic (Kafka's topic id: a topic deleted
and made again is another), its offset is not past the partition's end, and it is
younger than ``max_age_s``: compaction drops a tombstone once the topic's
``delete.retention.ms`` has passed, so an older checkpoint could bring back an account
expired since. It is exact for its offset whoever wrote the changelog after it: those
records replay onto it as onto a restore from the start
(:meth:`~streams.scoring.account_state.AccountStates.restore` with a base).

Layout: one DB per scorer (its group and instance id); per partition, under a 4-byte
prefix, ``meta`` (topic id, offset, time written) and ``a/<account>`` per account
(msgpack: generation, slot, highest slot, latest event time, the state as a snapshot
encodes it).

>>> import tempfile; from streams.model.account_window import AccountState
>>> store = AccountStore(Path(tempfile.mkdtemp()) / "velocity", max_age_s=3600)
>>> state = AccountState([5], [1.5], ["grocery"], ["GB"], 1, 0, 5)
>>> store.save(2, "topic-id", 120, {"a1": ((0, 3, 3), state)}, kept=0, mark=5)
1
>>> got = store.load(2, "topic-id", end=130)
>>> got.offset, got.accounts["a1"] == ((0, 3, 3), state)
(120, True)
>>> store.load(2, "another-topic-id", end=130)
'the changelog topic was made again since'
>>> store.close()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from streams.model.account_window import AccountState, decode_state, encode_state
from streams.scoring.state_changelog import Log

Accounts = Mapping[str, tuple[Log, AccountState]]
"""Accounts with their changelog position and state."""


class _Meta(msgspec.Struct, array_like=True):
    topic_id: str
    offset: int
    written_ms: int
    accounts: int  # in the checkpoint
    mark: int  # the partition's latest event time


class _Account(msgspec.Struct, array_like=True):
    gen: int
    since: int
    high: int
    last_time: int  # read by expiry without decoding the state
    state: bytes


class _Head(msgspec.Struct, array_like=True):
    """An account's entry without its state (msgspec skips the rest of the array)."""

    gen: int
    since: int
    high: int
    last_time: int


_ENCODE: Final = msgspec.msgpack.Encoder().encode
_META: Final = msgspec.msgpack.Decoder(_Meta).decode
_ACCOUNT: Final = msgspec.msgpack.Decoder(_Account).decode
_HEAD: Final = msgspec.msgpack.Decoder(_Head).decode


@dataclass(frozen=True)
class Checkpoint:
    """A partition's accounts at changelog ``offset`` (``count`` of them; ``accounts``
    empty if not read), and its latest event time then: restore them, then the records
    from ``offset`` on."""

    offset: int
    count: int
    mark: int
    accounts: dict[str, tuple[Log, AccountState]]


def _prefix(partition: int) -> bytes:
    return partition.to_bytes(4, "big")


def _account_key(partition: int, account: str) -> bytes:
    return _prefix(partition) + b"a/" + account.encode()


def _decoded(a: _Account) -> tuple[Log, AccountState]:
    return (a.gen, a.since, a.high), decode_state(a.state)


class AccountStore:
    """Accounts out of memory and checkpoints, per partition, in one RocksDB at ``path``
    (opened at first use, until :meth:`close`)."""

    def __init__(self, path: Path, max_age_s: int, clock: Callable[[], float] = time.time):
        self.path = path
        self.max_age_ms = max_age_s * 1000
        self._clock = clock
        self._opened: Any = None

    @property
    def _db(self) -> Any:
        if self._opened is None:
            import rocksdict  # only a scorer with velocity features loads it

            self.path.parent.mkdir(parents=True, exist_ok=True)
            options = rocksdict.Options(raw_mode=True)
            self._opened = rocksdict.Rdict(str(self.path), options=options)
        return self._opened

    def close(self) -> None:
        """Close the DB (a later call opens it again)."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None

    def put(self, partition: int, accounts: Accounts) -> None:
        """Write ``accounts`` of ``partition`` (one write batch)."""
        import rocksdict

        batch = rocksdict.WriteBatch(raw_mode=True)
        for account, ((gen, since, high), state) in accounts.items():
            value = _Account(gen, since, high, state.last_time, encode_state(state))
            batch.put(_account_key(partition, account), _ENCODE(value))
        self._db.write(batch)

    def take(
        self, partition: int, accounts: Collection[str]
    ) -> dict[str, tuple[Log, AccountState]]:
        """Those of ``accounts`` kept here, removed from here (one read, one write)."""
        import rocksdict

        keys = [_account_key(partition, a) for a in accounts]
        found = {a: v for a, v in zip(accounts, self._db.get(keys), strict=True) if v is not None}
        if not found:
            return {}
        batch = rocksdict.WriteBatch(raw_mode=True)
        for account in found:
            batch.delete(_account_key(partition, account))
        self._db.write(batch)
        return {a: _decoded(_ACCOUNT(v)) for a, v in found.items()}

    def older(self, partition: int, before: int) -> list[str]:
        """The accounts of ``partition`` kept here whose latest event is before ``before``
        (a scan of the partition's keys; the states are not decoded)."""
        start = _prefix(partition) + b"a/"
        out = []
        for key, value in self._db.items(from_key=start):
            if not key.startswith(start):
                break
            if _HEAD(value).last_time < before:
                out.append(key[len(start) :].decode())
        return out

    def clear(self, partition: int) -> None:
        """Remove every key of ``partition`` (its checkpoint too)."""
        import rocksdict

        batch = rocksdict.WriteBatch(raw_mode=True)
        batch.delete_range(_prefix(partition), _prefix(partition + 1))
        self._db.write(batch)

    def save(
        self, partition: int, topic_id: str, offset: int, accounts: Accounts, kept: int, mark: int
    ) -> int:
        """At a clean stop: ``accounts`` (those in memory) join the ``kept`` ones here, and
        the whole is ``partition``'s checkpoint at changelog ``offset`` (``mark``: the
        partition's latest event time); how many written."""
        self.put(partition, accounts)
        written = int(self._clock() * 1000)
        meta = _Meta(topic_id, offset, written, len(accounts) + kept, mark)
        self._db[_prefix(partition) + b"meta"] = _ENCODE(meta)
        return len(accounts)

    def unmark(self, partition: int) -> None:
        """``partition``'s keys are no checkpoint any more (its accounts stay)."""
        self._db.delete(_prefix(partition) + b"meta")

    def load(self, partition: int, topic_id: str, end: int, read: bool = True) -> Checkpoint | str:
        """``partition``'s checkpoint, if it can be used with the changelog partition of
        ``topic_id`` that ends at ``end``, its accounts read if ``read``; else why not."""
        raw = self._db.get(_prefix(partition) + b"meta")
        if raw is None:
            return "no checkpoint"
        try:
            meta = _META(raw)
        except msgspec.DecodeError as exc:  # another version's, or damaged
            return f"unreadable: {exc}"
        if meta.topic_id != topic_id:
            return "the changelog topic was made again since"
        if meta.offset > end:
            return f"its offset {meta.offset} is past the changelog's end {end}"
        if self._clock() * 1000 - meta.written_ms > self.max_age_ms:
            return "older than velocity_checkpoint_max_age_s"
        accounts = {a: _decoded(e) for a, e in self._entries(partition)} if read else {}
        return Checkpoint(meta.offset, meta.accounts, meta.mark, accounts)

    def _entries(self, partition: int) -> Iterator[tuple[str, _Account]]:
        start = _prefix(partition) + b"a/"
        for key, value in self._db.items(from_key=start):
            if not key.startswith(start):
                return
            yield key[len(start) :].decode(), _ACCOUNT(value)
