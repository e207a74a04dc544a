"""The velocity state's local checkpoints: per partition, every account's state and
changelog position, in RocksDB (rocksdict), written when the scorer stops cleanly.

A restart (or a partition assigned back) then restores from the checkpoint and only the
changelog written after its offset, not the whole compacted changelog. A checkpoint is
used only if it is of the same topic (Kafka's topic id: a topic deleted and made again
is another), its offset is not past the partition's end, and it is younger than
``max_age_s``: compaction drops a tombstone once the topic's ``delete.retention.ms`` has
passed, so an older checkpoint could bring back an account expired since.

A checkpoint is exact for its offset whoever wrote the changelog after it: those
records replay onto it as a restore from the start would
(:meth:`~streams.scoring.account_state.AccountStates.restore` with a base). So it is
kept after use: after a crash, it and the changelog since are still exact.

Layout: one DB per scorer (its group and instance id); per partition, under a 4-byte
prefix, a ``meta`` key (topic id, offset, time written) and an ``a/<account>`` key per
account (msgpack: generation, slot, highest slot, the state as a snapshot encodes it).
A save replaces a partition's keys in one write batch: all or nothing.

>>> import tempfile; from streams.model.account_window import AccountState
>>> store = CheckpointStore(Path(tempfile.mkdtemp()) / "velocity", max_age_s=3600)
>>> state = AccountState([5], [1.5], ["grocery"], ["GB"], 1, 0, 5)
>>> store.save(2, "topic-id", 120, {"a1": ((0, 3, 3), state)})
1
>>> got = store.load(2, "topic-id", end=130)
>>> got.offset, got.accounts["a1"] == ((0, 3, 3), state)
(120, True)
>>> store.load(2, "another-topic-id", end=130)
'the changelog topic was made again since'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from streams.model.account_window import AccountState, decode_state, encode_state
from streams.scoring.account_state import Base, Log


class _Meta(msgspec.Struct, array_like=True):
    topic_id: str
    offset: int
    written_ms: int


class _Account(msgspec.Struct, array_like=True):
    gen: int
    since: int
    high: int
    state: bytes


_ENCODE: Final = msgspec.msgpack.Encoder().encode
_META: Final = msgspec.msgpack.Decoder(_Meta).decode
_ACCOUNT: Final = msgspec.msgpack.Decoder(_Account).decode


@dataclass(frozen=True)
class Checkpoint:
    """A partition's accounts at changelog ``offset``: restore them, then the records
    from ``offset`` on."""

    offset: int
    accounts: dict[str, tuple[Log, AccountState]]


def _prefix(partition: int) -> bytes:
    return partition.to_bytes(4, "big")


class CheckpointStore:
    """Checkpoints per partition in one RocksDB at ``path``, opened only while a save or
    a load runs (so a stopped scorer holds no lock)."""

    def __init__(self, path: Path, max_age_s: int, clock: Callable[[], float] = time.time):
        self.path = path
        self.max_age_ms = max_age_s * 1000
        self._clock = clock

    @contextmanager
    def _db(self) -> Iterator[Any]:
        import rocksdict  # only a scorer with velocity features and checkpoints loads it

        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = rocksdict.Rdict(str(self.path), options=rocksdict.Options(raw_mode=True))
        try:
            yield db
        finally:
            db.close()

    def save(self, partition: int, topic_id: str, offset: int, base: Base) -> int:
        """Replace ``partition``'s checkpoint with ``base`` at changelog ``offset``; how
        many accounts."""
        import rocksdict

        prefix = _prefix(partition)
        batch = rocksdict.WriteBatch(raw_mode=True)
        batch.delete_range(prefix, _prefix(partition + 1))
        for account, ((gen, since, high), state) in base.items():
            value = _ENCODE(_Account(gen, since, high, encode_state(state)))
            batch.put(prefix + b"a/" + account.encode(), value)
        written = int(self._clock() * 1000)
        batch.put(prefix + b"meta", _ENCODE(_Meta(topic_id, offset, written)))
        with self._db() as db:
            db.write(batch)
        return len(base)

    def load(self, partition: int, topic_id: str, end: int) -> Checkpoint | str:
        """``partition``'s checkpoint, if it can be used with the changelog partition of
        ``topic_id`` that ends at ``end``; else why not."""
        prefix = _prefix(partition)
        with self._db() as db:
            raw = db.get(prefix + b"meta")
            if raw is None:
                return "no checkpoint"
            meta = _META(raw)
            if meta.topic_id != topic_id:
                return "the changelog topic was made again since"
            if meta.offset > end:
                return f"its offset {meta.offset} is past the changelog's end {end}"
            if self._clock() * 1000 - meta.written_ms > self.max_age_ms:
                return "older than velocity_checkpoint_max_age_s"
            accounts: dict[str, tuple[Log, AccountState]] = {}
            start = prefix + b"a/"
            for key, value in db.items(from_key=start):
                if not key.startswith(start):
                    break
                a = _ACCOUNT(value)
                accounts[key[len(start) :].decode()] = (
                    (a.gen, a.since, a.high),
                    decode_state(a.state),
                )
        return Checkpoint(meta.offset, accounts)
