"""The velocity state's local checkpoints (RocksDB) and the restorer that uses them,
without a broker: what is saved is what loads, a save replaces a partition's checkpoint
and no other's, and a checkpoint that cannot be trusted (another topic, past the end, too
old) is not used, the whole changelog read instead."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from streams.contract.records import Origin
from streams.model.account_window import DAY_MS, AccountState, encode_state
from streams.model.velocity import VelocityConfig
from streams.scoring.account_spill import Spilling
from streams.scoring.account_state import AccountStates, Event
from streams.scoring.state_restore import Checkpoints, Restored, StateRestorer
from streams.scoring.state_store import AccountStore, Checkpoint

CFG = VelocityConfig()
Records = list[tuple[bytes, bytes | None]]


def _stream_of(seed: int, count: int) -> list[tuple[Event, Origin]]:
    """Events of 40 accounts on partitions 0, 1 and 256, a second apart."""
    rng, out = random.Random(seed), []
    for k in range(count):
        a = rng.randrange(40)
        event = (f"acct-{a}", DAY_MS + 1_000 * k, rng.choice([1.0, 9.5]), "m1", "GB")
        out.append((event, Origin("events", (0, 1, 256)[a % 3], k)))
    return out


def _states(seed: int, count: int = 400) -> tuple[AccountStates, dict[int, Records]]:
    """States of 40 accounts on partitions 0, 1 and 256 (a prefix's last byte is 0 for
    both 0 and 256), everything committed, and the changelog written."""
    rng, states, changelog = random.Random(seed), AccountStates(CFG, "c", 4), {}
    for k in range(count):
        a = rng.randrange(40)
        event = (f"acct-{a}", DAY_MS + 1_000 * k, rng.choice([1.0, 9.5]), "m1", "GB")
        seen = states.observe([event], [Origin("events", (0, 1, 256)[a % 3], k)])
        states.sent()
        states.committed()
        for r in seen.changelog:
            changelog.setdefault(r.partition or 0, []).append((r.key or b"", r.value))
    return states, changelog


def _encoded(accounts: Mapping[str, tuple[object, AccountState]]) -> dict[str, object]:
    return {a: (log, encode_state(s)) for a, (log, s) in accounts.items()}


def test_what_is_saved_loads_per_partition_and_clearing_one_leaves_the_others(
    tmp_path: Path,
) -> None:
    states, _ = _states(1)
    store = AccountStore(tmp_path / "v", max_age_s=3600)
    for p in (0, 1, 256):
        assert store.save(p, "tid", 100 + p, states.checkpoint(p), 0, 7) == len(states.accounts(p))
    for p in (0, 1, 256):
        got = store.load(p, "tid", end=1_000)
        assert isinstance(got, Checkpoint) and got.offset == 100 + p
        assert _encoded(got.accounts) == _encoded(states.checkpoint(p))
    one = dict(list(states.checkpoint(1).items())[:1])
    store.clear(1)  # as at the partition's next assignment: nothing of it is left
    assert store.load(1, "tid", end=1_000) == "no checkpoint"
    store.save(1, "tid", 500, one, 0, 7)
    got = store.load(1, "tid", end=1_000)
    assert isinstance(got, Checkpoint) and _encoded(got.accounts) == _encoded(one)
    got = store.load(256, "tid", end=1_000)
    assert isinstance(got, Checkpoint) and _encoded(got.accounts) == _encoded(
        states.checkpoint(256)
    )


def test_a_checkpoint_that_cannot_be_trusted_is_not_used(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = AccountStore(tmp_path / "v", max_age_s=60, clock=lambda: now[0])
    assert store.load(0, "tid", end=10) == "no checkpoint"
    store.save(0, "tid", 10, {}, 0, 0)
    assert isinstance(store.load(0, "tid", end=10), Checkpoint)
    assert store.load(0, "other", end=10) == "the changelog topic was made again since"
    assert "past the changelog's end" in str(store.load(0, "tid", end=9))
    now[0] += 61
    assert store.load(0, "tid", end=10) == "older than velocity_checkpoint_max_age_s"


def test_the_restorer_reads_only_the_changelog_after_a_usable_checkpoint(
    tmp_path: Path,
) -> None:
    states, changelog = _states(2, 600)
    ends = {p: len(records) for p, records in changelog.items()}
    store = AccountStore(tmp_path / "v", max_age_s=3600)
    checkpoints = Checkpoints(store, "tid", lambda: ends)
    # a checkpoint of partition 1 at its offset 30 (its state then, replayed from the log)
    at = AccountStates(CFG, "c", 4)
    at.restore(1, changelog[1][:30])
    store.save(1, "tid", 30, at.checkpoint(1), 0, at.mark(1))
    store.save(0, "other-topic", 5, {}, 0, 0)  # not usable: partition 0 reads it all
    asked: list[dict[int, int]] = []

    def read(starts: Mapping[int, int]) -> dict[int, Records]:
        asked.append(dict(starts))
        return {p: changelog[p][s:] for p, s in starts.items()}

    fresh = AccountStates(CFG, "c", 4)
    got = StateRestorer(read, checkpoints).restore(fresh, [0, 1])
    assert asked == [{0: 0, 1: 30}]
    assert got[0] == Restored(len(states.accounts(0)), None)
    assert got[1] == Restored(len(states.accounts(1)), len(at.accounts(1)))
    for p in (0, 1):
        assert _encoded(fresh.checkpoint(p)) == _encoded(states.checkpoint(p))

    assert store.load(1, "tid", end=ends[1]) == "no checkpoint"  # cleared once restored
    # a clean stop saves every partition at the changelog's end: the next restore reads none
    assert StateRestorer(read, checkpoints).save(fresh) == sum(
        len(fresh.accounts(p)) for p in (0, 1)
    )
    again = AccountStates(CFG, "c", 4)
    StateRestorer(read, checkpoints).restore(again, [0, 1])
    assert asked[-1] == {0: ends[0], 1: ends[1]}
    assert _encoded(again.checkpoint(1)) == _encoded(states.checkpoint(1))


def test_with_spilling_a_restart_leaves_the_checkpoints_accounts_in_the_store(
    tmp_path: Path,
) -> None:
    """Memory bounded from the start: a checkpoint's accounts stay in the store, those
    the changelog after it touched come back; the features go on exact."""
    stream = _stream_of(3, 900)
    first, changelog = AccountStates(CFG, "c", 4), {}
    for k in range(0, 600, 20):
        seen = first.observe([e for e, _ in stream[k : k + 20]], [o for _, o in stream[k : k + 20]])
        first.sent()
        first.committed()
        for r in seen.changelog:
            changelog.setdefault(r.partition or 0, []).append((r.key or b"", r.value))
    at = {p: len(records) for p, records in changelog.items()}  # the checkpoint's offsets
    first_counts = {p: len(first.accounts(p)) for p in first.partitions}
    total = sum(first_counts.values())
    store = AccountStore(tmp_path / "v", max_age_s=3600)
    for p in first.partitions:
        store.save(p, "tid", at[p], first.checkpoint(p), 0, first.mark(p))
    marks = {p: first.mark(p) for p in first.partitions}
    for k in range(600, 700, 20):  # another scorer went on meanwhile: the changelog after
        seen = first.observe([e for e, _ in stream[k : k + 20]], [o for _, o in stream[k : k + 20]])
        first.sent()
        first.committed()
        for r in seen.changelog:
            changelog.setdefault(r.partition or 0, []).append((r.key or b"", r.value))
    ends = {p: len(records) for p, records in changelog.items()}
    checkpoints = Checkpoints(store, "tid", lambda: ends)

    def read(starts: Mapping[int, int]) -> dict[int, Records]:
        return {p: changelog.get(p, [])[s:] for p, s in starts.items()}

    # straight after the checkpoint: nothing comes back, the partitions' marks do
    idle = AccountStates(CFG, "c", 4, Spilling(store, 5))
    idle_ends = Checkpoints(store, "tid", lambda: at)
    StateRestorer(lambda starts: {p: [] for p in starts}, idle_ends).restore(idle, sorted(at))
    assert idle.sizes() == (0, total) and {p: idle.mark(p) for p in at} == marks
    for p in first.partitions:  # the store as it was (restore unmarked it)
        store.save(p, "tid", at[p], {}, first_counts[p], marks[p])
    second = AccountStates(CFG, "c", 4, Spilling(store, 5))
    got = StateRestorer(read, checkpoints).restore(second, sorted(first.partitions))
    total = sum(len(first.accounts(p)) for p in first.partitions)  # accounts come, none go
    assert sum(r.accounts for r in got.values()) == total
    in_memory, in_store = second.sizes()
    assert in_memory < total and in_memory + in_store == total  # not all loaded
    for p in first.partitions:
        assert store.load(p, "tid", ends[p]) == "no checkpoint"  # the store is live now
        assert second.mark(p) == first.mark(p)
    rest = stream[700:]
    a = first.observe([e for e, _ in rest], [o for _, o in rest])
    b = second.observe([e for e, _ in rest], [o for _, o in rest])
    assert np.array_equal(a.features, b.features, equal_nan=True) and a.cold == b.cold
    store.close()


def test_with_spilling_a_restore_from_the_changelog_keeps_what_it_moves_out(
    tmp_path: Path,
) -> None:
    """No checkpoint: the partition's keys are cleared before it is rebuilt, so the
    accounts the restore moves to the store as it goes stay there."""
    states, changelog = _states(4, 600)
    store = AccountStore(tmp_path / "v", max_age_s=3600)
    checkpoints = Checkpoints(store, "tid", lambda: {p: len(r) for p, r in changelog.items()})
    bounded = AccountStates(CFG, "c", 4, Spilling(store, 3))
    StateRestorer(lambda starts: {p: changelog[p] for p in starts}, checkpoints).restore(
        bounded, [0, 1]
    )
    in_memory, in_store = bounded.sizes()
    assert in_memory <= 3 and in_memory + in_store == sum(len(states.accounts(p)) for p in (0, 1))
    for p in (0, 1):
        back = store.take(p, set(states.accounts(p)))
        together = {a: s for a, (_, s) in back.items()} | bounded.accounts(p)
        assert {a: encode_state(s) for a, s in together.items()} == {
            a: encode_state(s) for a, s in states.accounts(p).items()
        }
    store.close()
