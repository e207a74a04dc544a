"""The scorer's velocity state without a broker: through aborted transactions (undone,
then the same events again), a restart from the changelog and a partition moving, every
committed event's features equal the brute-force recomputation of
``tests/test_velocity.py``."""

from __future__ import annotations

import gc
import random
import weakref
import zlib

import pytest
from test_velocity import Event, brute_force, same

from streams.contract.records import Origin, OutRecord
from streams.model.account_window import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    AccountState,
    decode_state,
    encode_state,
)
from streams.model.velocity import VelocityConfig
from streams.scoring.account_state import AccountStates, Observed
from streams.scoring.state_changelog import Base, Log

CFG = VelocityConfig(retention_ms=2 * DAY_MS)
Features = dict[int, tuple[list[float], bool]]  # by offset: the features, cold or not


def _stream(seed: int, count: int) -> list[tuple[Event, Origin]]:
    """Events of 12 accounts on 3 partitions (an account always on the same one)."""
    rng = random.Random(seed)
    clock, out = 10 * DAY_MS, []
    for offset in range(count):
        account = f"a{rng.randrange(12)}"
        clock += rng.choice([0, 1, 2, 30, 600]) * 1000
        back = rng.choice([0, 0, 0, 90_000])
        event = (
            account,
            clock - back,
            rng.choice([1.0, 2.5, 40.0]),
            rng.choice([None, "m1", "m2"]),
            rng.choice(["GB", "FR"]),
        )
        out.append((event, Origin("events", int(account[1:]) % 3, offset)))
    return out


def _expected(stream: list[tuple[Event, Origin]]) -> Features:
    want = brute_force([e for e, _ in stream], CFG)
    return {o.offset: w for (_, o), w in zip(stream, want, strict=True)}


def _seen(batch: list[tuple[Event, Origin]], seen: Observed) -> Features:
    return {o.offset: (list(seen.features[k]), seen.cold[k]) for k, (_, o) in enumerate(batch)}


def _check(got: Features, want: Features) -> None:
    assert got.keys() == want.keys()
    for offset, (values, cold) in got.items():
        assert cold == want[offset][1] and same(values, want[offset][0]), offset


def test_aborted_transactions_are_undone_and_replayed() -> None:
    stream, rng = _stream(1, 3_000), random.Random(2)
    states, got = AccountStates(CFG, "changelog"), Features()
    i = 0
    while i < len(stream):
        batches = []  # up to two transactions in flight, as with overlap_commit
        for _ in range(rng.choice([1, 2])):
            batch = stream[i : i + rng.randrange(1, 40)]
            i += len(batch)
            seen = states.observe([e for e, _ in batch], [o for _, o in batch])
            batches.append((batch, seen))
            states.sent()
        if rng.random() < 0.3:  # the first aborts: every batch in flight comes again
            states.aborted()
            i -= sum(len(b) for b, _ in batches)
            continue
        for batch, seen in batches:
            states.committed()
            got.update(_seen(batch, seen))
    _check(got, _expected(stream))


def test_a_restart_restores_from_the_changelog_and_a_partition_can_move() -> None:
    stream = _stream(3, 2_000)
    first, changelog, got = AccountStates(CFG, "changelog"), [], Features()
    for start in range(0, 1_000, 25):
        batch = stream[start : start + 25]
        seen = first.observe([e for e, _ in batch], [o for _, o in batch])
        first.sent()
        first.committed()
        changelog += seen.changelog
        got.update(_seen(batch, seen))
    # a new scorer gets every partition, restored from the committed changelog
    second = AccountStates(CFG, "changelog")
    for p in range(3):
        records = [(r.key or b"", r.value) for r in changelog if r.partition == p]
        assert second.restore(p, records) == len(first.accounts(p))
        assert second.accounts(p) == first.accounts(p)
    first.revoke(0)
    assert first.accounts(0) == {}
    for start in range(1_000, 2_000, 25):
        batch = stream[start : start + 25]
        seen = second.observe([e for e, _ in batch], [o for _, o in batch])
        got.update(_seen(batch, seen))
    _check(got, _expected(stream))


def _compacted(changelog: list[OutRecord], partition: int) -> list[tuple[bytes, bytes | None]]:
    """A partition's changelog as compaction leaves it: the latest record of each key."""
    latest = {r.key or b"": r.value for r in changelog if r.partition == partition}
    return list(latest.items())


def test_snapshots_and_deltas_restore_the_same_state_through_aborts_and_compaction() -> None:
    stream, rng = _stream(5, 3_000), random.Random(6)
    first, changelog, got = AccountStates(CFG, "c", snapshot_every=3), [], Features()
    i = 0
    while i < 2_000:
        batch = stream[i : i + rng.randrange(1, 30)]
        seen = first.observe([e for e, _ in batch], [o for _, o in batch])
        first.sent()
        if rng.random() < 0.2:  # aborted: read committed never sees its records
            first.aborted()
            continue
        first.committed()
        i += len(batch)
        changelog += seen.changelog
        got.update(_seen(batch, seen))
        restored = AccountStates(CFG, "c", 3)  # after every commit, as a new owner would
        for p in range(3):
            restored.restore(p, _compacted(changelog, p))
            assert restored.accounts(p) == first.accounts(p)
    assert any(b"\xff" in (r.key or b"") for r in changelog)  # deltas were written
    second, third = AccountStates(CFG, "c", 3), AccountStates(CFG, "c", 3)
    for p in range(3):
        second.restore(p, [(r.key or b"", r.value) for r in changelog if r.partition == p])
        third.restore(p, _compacted(changelog, p))
        assert second.accounts(p) == third.accounts(p) == first.accounts(p)
    more = stream[i:]
    seen = third.observe([e for e, _ in more], [o for _, o in more])
    got.update(_seen(more, seen))
    _check(got, _expected(stream))


def test_a_delta_carries_only_the_batch_events_of_its_account() -> None:
    states = AccountStates(CFG, "c", snapshot_every=16)
    sizes = []
    for k in range(10):  # a busy account: 50 events a batch
        events: list[Event] = [("a", HOUR_MS * k + j * 1000, 1.0, "m", "GB") for j in range(50)]
        seen = states.observe(events, [Origin("events", 0, 50 * k + j) for j in range(50)])
        sizes.append(len(seen.changelog[0].value or b""))
    assert [r for r in sizes[1:] if r > 2 * sizes[0]] == []  # not the growing day


def test_one_changelog_record_per_account_a_batch_touched() -> None:
    states = AccountStates(CFG, "changelog")
    events: list[Event] = [("a", MINUTE_MS * k, 1.0, None, None) for k in range(5)]
    events += [("b", MINUTE_MS, 2.0, None, None)]
    seen = states.observe(events, [Origin("events", 1, k) for k in range(6)])
    assert sorted((r.key, r.partition, r.topic) for r in seen.changelog) == [
        (b"a", 1, "changelog"),
        (b"b", 1, "changelog"),
    ]


EXPIRING = VelocityConfig(lateness_ms=MINUTE_MS, retention_ms=10 * MINUTE_MS)


def _expiring_stream(seed: int, count: int) -> list[tuple[Event, Origin]]:
    """~8 h of events for 3,000: new accounts all along, a few coming back."""
    rng = random.Random(seed)
    clock, stream = 10 * DAY_MS, []
    for offset in range(count):
        clock += rng.choice([1, 5, 10, 30]) * 1000
        account = f"a{rng.randrange(offset + 1)}" if rng.random() < 0.3 else f"n{offset}"
        event = (account, clock, rng.choice([5.0, 0.5]), rng.choice(["m1", "m2"]), "GB")
        stream.append((event, Origin("events", zlib.crc32(account.encode()) % 3, offset)))
    return stream


def test_idle_accounts_expire_with_tombstones_and_features_stay_exact() -> None:
    cfg, stream = EXPIRING, _expiring_stream(27, 3_000)
    want = {
        o.offset: w
        for (_, o), w in zip(stream, brute_force([e for e, _ in stream], cfg), strict=True)
    }
    states, got, changelog = AccountStates(cfg, "c", 2), {}, []
    for start in range(0, len(stream), 100):
        batch = stream[start : start + 100]
        seen = states.observe([e for e, _ in batch], [o for _, o in batch])
        got.update(_seen(batch, seen))
        changelog += seen.changelog
        states.sent()
        states.committed()
    _check(got, want)  # an expired account's next event is a cold start anyway
    kept = sum(len(states.accounts(p)) for p in range(3))
    seen_accounts = len({e[0] for e, _ in stream})
    assert kept < seen_accounts / 5  # bounded by the recent ones, not all ever seen
    assert any(r.value is None for r in changelog)  # tombstones for the compacted topic
    for p in range(3):  # nothing of an expired account is left after compaction
        left = {k.split(b"\xff")[0].decode() for k, v in _compacted(changelog, p) if v}
        assert left == set(states.accounts(p))
    restored = AccountStates(cfg, "c", 2)
    for p in range(3):
        restored.restore(p, [(r.key, r.value) for r in changelog if r.partition == p])  # type: ignore[misc]
        assert restored.accounts(p) == states.accounts(p)


def test_an_aborted_sweep_brings_the_accounts_back() -> None:
    cfg = VelocityConfig(lateness_ms=MINUTE_MS, retention_ms=MINUTE_MS)
    states = AccountStates(cfg, "c")
    states.observe([("old", 0, 1.0, None, None)], [Origin("events", 0, 0)])
    states.sent()
    states.committed()
    later = states.observe([("new", 2 * HOUR_MS, 1.0, None, None)], [Origin("events", 0, 1)])
    assert [(r.key, r.value) for r in later.changelog if r.key == b"old"] == [(b"old", None)]
    assert set(states.accounts(0)) == {"new"}
    states.aborted()
    assert set(states.accounts(0)) == {"old"}


def test_an_account_expired_by_the_batch_that_touched_it_comes_back_whole_on_abort() -> None:
    """Its undo was a mark (its lists only grew), so expiry must copy them before it
    drops the account: the abort brings back exactly what was committed."""
    states, offsets = AccountStates(CFG, "changelog"), iter(range(10))

    def observe(*events: Event) -> Observed:
        return states.observe(list(events), [Origin("events", 0, next(offsets)) for _ in events])

    observe(("a", DAY_MS, 1.0, "m1", "GB"), ("a", DAY_MS + 1_000, 2.0, "m2", "FR"))
    states.sent()
    states.committed()
    committed = encode_state(states.accounts(0)["a"])
    # b moves the partition 9 days on: a, touched in the same batch, expires in it
    seen = observe(("b", 10 * DAY_MS, 5.0, None, None), ("a", DAY_MS + 2_000, 3.0, None, None))
    assert "a" not in states.accounts(0)
    assert (b"a", None) in [(r.key, r.value) for r in seen.changelog]  # its tombstone
    states.sent()
    states.aborted()
    assert encode_state(states.accounts(0)["a"]) == committed


def test_an_accounts_windows_are_freed_by_reference_counting_once_it_goes() -> None:
    """The scorer's GC freezes what survives a collection, and never frees a frozen
    object inside a reference cycle: the undo's guard must not make one."""
    gc.disable()
    try:
        states, offsets = AccountStates(CFG, "changelog"), iter(range(10))
        for t in (DAY_MS, DAY_MS + 1_000, DAY_MS + 2_000):  # the 2nd and 3rd set the guard
            states.observe([("a", t, 1.0, None, None)], [Origin("events", 0, next(offsets))])
            states.sent()
            states.committed()
        windows = weakref.ref(states._parts[0].accounts["a"])  # what would leak
        assert windows() is not None and windows().guard is not None  # type: ignore[union-attr]
        states.revoke(0)
        assert windows() is None
    finally:
        gc.enable()


def _copy(base: Base) -> dict[str, tuple[Log, AccountState]]:
    """A checkpoint as a store keeps it: encoded then (restoring it grows its lists)."""
    return {a: (log, decode_state(encode_state(s))) for a, (log, s) in base.items()}


def _positions(states: AccountStates, p: int) -> dict[str, tuple[int, int, bytes]]:
    """Each account's generation, slot since its snapshot and state: what its next
    changelog record and features depend on."""
    return {a: (g, n, encode_state(s)) for a, ((g, n, _), s) in states.checkpoint(p).items()}


@pytest.mark.parametrize("expiring", [True, False], ids=["expiring", "busy"])
def test_a_checkpoint_and_the_changelog_after_it_restore_the_committed_state(
    expiring: bool,
) -> None:
    """Checkpoints taken between commits, then more batches (aborts, snapshots and
    deltas, and expiry tombstones or busy accounts); each checkpoint plus the changelog
    after it, raw or compacted, restores exactly the state at the end."""
    cfg = EXPIRING if expiring else CFG
    stream = _expiring_stream(31, 3_000) if expiring else _stream(31, 3_000)
    every = 3 if expiring else 16  # busy: most accounts go on in their generation
    states, changelog, checkpoints, rng = AccountStates(cfg, "c", every), [], [], random.Random(32)
    i = 0
    while i < len(stream):
        batch = stream[i : i + rng.randrange(1, 60)]
        seen = states.observe([e for e, _ in batch], [o for _, o in batch])
        states.sent()
        if rng.random() < 0.2:
            states.aborted()
            continue
        states.committed()
        i += len(batch)
        changelog += seen.changelog
        if rng.random() < 0.08 or i > len(stream) - 150:  # and near the end: few snapshots
            bases = {p: _copy(states.checkpoint(p)) for p in states.partitions}
            checkpoints.append((len(changelog), bases))
    assert len(checkpoints) >= 5
    if expiring:  # accounts expired after the first checkpoint
        assert sum(r.value is None for r in changelog[checkpoints[0][0] :]) > 20
    for at, bases in checkpoints:
        tail = changelog[at:]
        for p in range(3):
            raw = [(r.key or b"", r.value) for r in tail if r.partition == p]
            for records in (raw, _compacted(tail, p)):
                restored = AccountStates(cfg, "c", every)
                restored.restore(p, records, _copy(bases[p]) if p in bases else None)
                assert _positions(restored, p) == _positions(states, p)
                # its tombstones, when it expires, cover every slot it ever wrote
                live, got = states.checkpoint(p), restored.checkpoint(p)
                assert all(got[a][0][2] >= log[2] for a, (log, _) in live.items())


def test_a_checkpoint_needs_every_change_committed() -> None:
    states = AccountStates(CFG, "c")
    states.observe([("a", DAY_MS, 1.0, None, None)], [Origin("events", 0, 0)])
    states.sent()
    with pytest.raises(ValueError, match="not committed"):
        states.checkpoint(0)
    states.committed()
    assert list(states.checkpoint(0)) == ["a"]
