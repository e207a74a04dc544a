"""The velocity state with few accounts in memory, the rest in a store (a dict, and
RocksDB): through aborted transactions (two in flight) and expiry, every committed
event's features equal the brute force, memory stays within its bound (plus the
accounts of transactions in flight), and the changelog restores exactly the state in
memory and in the store together."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from test_account_state import (
    CFG,
    EXPIRING,
    Features,
    _check,
    _compacted,
    _expiring_stream,
    _seen,
    _stream,
)
from test_velocity import brute_force

from streams.contract.records import OutRecord
from streams.dev.memory_spill import DictSpill
from streams.model.account_window import AccountState, encode_state
from streams.model.velocity import VelocityConfig
from streams.scoring.account_spill import Spilling
from streams.scoring.account_state import AccountStates
from streams.scoring.state_changelog import Log
from streams.scoring.state_store import AccountStore

BOUND = 4


def _run(states: AccountStates, stream: list, seed: int) -> tuple[Features, list, int]:  # type: ignore[type-arg]
    """Batches with up to two transactions in flight, as the scorer has them: the first
    commits (accounts move out), then 30% of the time the one after it aborts (its
    events come again). The committed features, changelog, and the most accounts in
    memory after a commit beyond those of the transaction still in flight."""
    rng, got, changelog, most = random.Random(seed), Features(), [], 0
    i = 0
    while i < len(stream):
        batches = []
        for _ in range(rng.choice([1, 2])):
            batch = stream[i : i + rng.randrange(1, 30)]
            i += len(batch)
            seen = states.observe([e for e, _ in batch], [o for _, o in batch])
            batches.append((batch, seen))
            states.sent()
        for k, (batch, seen) in enumerate(batches):
            if k > 0 and rng.random() < 0.3:
                states.aborted()  # the rest comes again
                i -= sum(len(b) for b, _ in batches[k:])
                break
            states.committed()
            got.update(_seen(batch, seen))
            changelog += seen.changelog
            in_flight = {(o.partition, e[0]) for b, _ in batches[k + 1 :] for e, o in b}
            resident = sum(len(states.accounts(p)) for p in states.partitions)
            most = max(most, resident - len(in_flight))
    return got, changelog, most


def _same_as_restored(
    states: AccountStates,
    kept: dict[int, dict[str, tuple[Log, AccountState]]],
    changelog: list[OutRecord],
    cfg: VelocityConfig,
) -> None:
    """Memory and store (``kept``) together, never both, are what the changelog restores."""
    for p in range(3):
        restored = AccountStates(cfg, "c", 3)
        restored.restore(p, _compacted(changelog, p))
        out = {a: s for a, (_, s) in kept.get(p, {}).items()}
        assert not out.keys() & states.accounts(p).keys()
        together = out | states.accounts(p)
        assert {a: encode_state(s) for a, s in restored.accounts(p).items()} == {
            a: encode_state(s) for a, s in together.items()
        }


@pytest.mark.parametrize("expiring", [False, True], ids=["busy", "expiring"])
def test_few_accounts_in_memory_and_the_features_stay_exact(expiring: bool) -> None:
    cfg = EXPIRING if expiring else CFG
    stream = _expiring_stream(41, 2_000) if expiring else _stream(41, 3_000)
    spill = DictSpill()
    states = AccountStates(cfg, "c", 3, Spilling(spill, BOUND))
    got, changelog, most = _run(states, stream, 42)
    want = brute_force([e for e, _ in stream], cfg)
    _check(got, {o.offset: w for (_, o), w in zip(stream, want, strict=True)})
    assert most <= BOUND  # after a commit, nothing else in flight
    assert states.spilling is not None and states.spilling.moved_in > 100  # back and forth
    if expiring:  # accounts expired out of the store too: tombstones, and gone from it
        assert sum(r.value is None for r in changelog) > 50
    _same_as_restored(states, spill.kept, changelog, cfg)


@pytest.mark.parametrize("expiring", [False, True], ids=["busy", "expiring"])
def test_with_rocksdb_the_features_stay_exact(expiring: bool, tmp_path: Path) -> None:
    cfg = EXPIRING if expiring else CFG
    stream = _expiring_stream(43, 2_000) if expiring else _stream(43, 2_000)
    store = AccountStore(tmp_path / "velocity", max_age_s=3600)
    states = AccountStates(cfg, "c", 3, Spilling(store, BOUND))
    got, changelog, most = _run(states, stream, 44)
    want = brute_force([e for e, _ in stream], cfg)
    _check(got, {o.offset: w for (_, o), w in zip(stream, want, strict=True)})
    assert most <= BOUND
    if expiring:  # accounts expired out of the store too: tombstones, and gone from it
        assert sum(r.value is None for r in changelog) > 50
    names = {e[0] for e, _ in stream}
    _same_as_restored(states, {p: store.take(p, names) for p in range(3)}, changelog, cfg)
    store.close()


def test_a_revoked_partition_leaves_nothing_in_the_store() -> None:
    spill = DictSpill()
    states = AccountStates(VelocityConfig(), "c", 3, Spilling(spill, 1))
    stream = _stream(45, 200)
    _run(states, stream, 46)
    assert any(spill.kept.values())
    for p in range(3):
        states.revoke(p)
    assert not any(spill.kept.values()) and states.partitions == set()


def test_a_restore_from_the_changelog_stays_within_the_memory_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Accounts already rebuilt move to the store as the restore goes (every 3 here):
    memory within the bound, memory and store together what the changelog holds, the
    partitions' latest event times kept, and the features go on exact."""
    monkeypatch.setattr("streams.scoring.state_changelog._OVERFLOW_EVERY", 3)
    stream = _stream(47, 3_000)
    live, changelog = AccountStates(CFG, "c", 3), []
    for k in range(0, 2_000, 25):
        batch = stream[k : k + 25]
        changelog += live.observe([e for e, _ in batch], [o for _, o in batch]).changelog
        live.sent()
        live.committed()
    spill = DictSpill()
    bounded = AccountStates(CFG, "c", 3, Spilling(spill, BOUND))
    for p in range(3):
        assert bounded.restore(p, _compacted(changelog, p)) == len(live.accounts(p))
        assert bounded.sizes()[0] <= BOUND and bounded.mark(p) == live.mark(p)
    _same_as_restored(bounded, spill.kept, changelog, CFG)
    rest = stream[2_000:]
    a = live.observe([e for e, _ in rest], [o for _, o in rest])
    b = bounded.observe([e for e, _ in rest], [o for _, o in rest])
    assert np.array_equal(a.features, b.features, equal_nan=True)
    assert a.cold == b.cold
