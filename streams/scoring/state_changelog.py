"""The velocity state's changelog records: an account's whole state now and then, and
only what a batch added in between.

A batch that touches an account writes one record for it. Every ``snapshot_every``-th
such record, and whenever the account starts afresh (new, or cold again), it is a
*snapshot*: key the account id, value the state and its generation. In between it is a
*delta*: key the account id, ``0xFF`` and a slot number (1 to ``snapshot_every - 1``),
value the generation and the batch's events of that account, in the order the scorer
saw them. ``0xFF`` never occurs in UTF-8, so the two kinds of key cannot meet.

The topic is compacted: per account it keeps the latest snapshot and the latest record
of each slot. A restore starts from the snapshot and replays the deltas of the same
generation in slot order (those of an older generation are stale). A snapshot costs
~20 B per kept event; a delta ~20 B per event it carries, so an account touched once
per batch writes on average its state over ``snapshot_every`` plus one event.

>>> snap = encode_snapshot(3, AccountState([5], [1.5], ["grocery"], ["GB"], 1, 0, 5))
>>> decode_snapshot(snap)[0]
3
>>> parse_key(delta_key("a1", 2)), parse_key(b"a1")
(('a1', 2), ('a1', 0))
>>> decode_delta(encode_delta(3, [(7, 2.0, None, "FR")]))
(3, [(7, 2.0, None, 'FR')])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import msgspec

from streams.model.account_window import (
    AccountState,
    AccountWindows,
    decode_state,
    encode_state,
)
from streams.model.velocity import AccountFeatures

Added = tuple[int, float, str | None, str | None]
"""An event as a delta carries it: event time, amount, merchant category, country."""

Log = tuple[int, int, int]
"""An account's changelog position: its generation, the deltas written since its
snapshot, and the highest slot it ever wrote (the tombstones when it expires)."""

Base = Mapping[str, tuple[Log, AccountState]]
"""A partition's accounts as a checkpoint kept them: their changelog position and state."""

_SEP: Final = b"\xff"


class _Snapshot(msgspec.Struct, array_like=True):
    gen: int
    state: bytes


_ENCODE: Final = msgspec.msgpack.Encoder().encode
_SNAPSHOT: Final = msgspec.msgpack.Decoder(_Snapshot).decode
_DELTA: Final = msgspec.msgpack.Decoder(tuple[int, list[Added]]).decode


def encode_snapshot(gen: int, state: AccountState) -> bytes:
    """A snapshot's value: the generation and the whole state."""
    return _ENCODE(_Snapshot(gen, encode_state(state)))


def decode_snapshot(raw: bytes) -> tuple[int, AccountState]:
    """:func:`encode_snapshot`'s inverse."""
    snap = _SNAPSHOT(raw)
    return snap.gen, decode_state(snap.state)


def encode_delta(gen: int, added: Sequence[Added]) -> bytes:
    """A delta's value: the generation and the events a batch added, in order (one C
    call: a delta is written per account a batch touches)."""
    return _ENCODE((gen, added))


def decode_delta(raw: bytes) -> tuple[int, list[Added]]:
    """:func:`encode_delta`'s inverse."""
    return _DELTA(raw)


def delta_key(account: str, slot: int) -> bytes:
    """The key of an account's delta in ``slot`` (1 to 255)."""
    return account.encode() + _SEP + bytes((slot,))


def parse_key(key: bytes) -> tuple[str, int]:
    """The account and slot of a changelog key (slot 0: the snapshot)."""
    at = key.find(_SEP)
    if at < 0:
        return key.decode(), 0
    return key[:at].decode(), key[at + 1]


def replay(
    part: AccountFeatures,
    logs: dict[str, Log],
    records: Iterable[tuple[bytes, bytes | None]],
    base: Base | None = None,
    overflow: Callable[[list[str]], None] | None = None,
) -> None:
    """Rebuild a partition's accounts (``part``, empty) and their positions (``logs``)
    from ``base`` (a checkpoint's accounts; none: empty) and the changelog records written
    since (all of them without a base), in order (the last one of a key wins; a None
    value deletes): an account with a snapshot among them is rebuilt from it and its
    deltas of the same generation in slot order; one without, from the base and its
    deltas of the base's generation; each delta observed as it was. ``overflow`` is
    handed the accounts rebuilt, every ``_OVERFLOW_EVERY`` (they may leave ``part``)."""
    for account, (log, state) in (base or {}).items():
        part.accounts[account] = AccountWindows(state)
        logs[account] = log
    latest: dict[str, dict[int, bytes | None]] = {}
    for key, value in records:
        account, slot = parse_key(key)
        latest.setdefault(account, {})[slot] = value
    done: list[str] = []
    for account, slots in latest.items():
        _replay_account(part, logs, account, slots)
        done.append(account)
        if overflow is not None and len(done) >= _OVERFLOW_EVERY:
            overflow(done)
            done = []
    if overflow is not None and done:
        overflow(done)


_OVERFLOW_EVERY: Final = 1024  # accounts rebuilt between two looks at the memory bound


def _replay_account(
    part: AccountFeatures, logs: dict[str, Log], account: str, slots: dict[int, bytes | None]
) -> None:
    """One account of :func:`replay`, from its latest record of each slot."""
    high = max(max(slots), logs[account][2] if account in logs else 0)
    if 0 in slots:
        if (snapshot := slots.pop(0)) is None:  # expired (its deltas deleted with it)
            part.accounts.pop(account, None)
            logs.pop(account, None)
            return
        gen, state = decode_snapshot(snapshot)
        part.accounts[account] = AccountWindows(state)
        since = 0
    elif account in logs:  # the base's generation goes on
        gen, since, _ = logs[account]
    else:
        return  # deltas without a snapshot: expired
    for slot in sorted(s for s, v in slots.items() if v is not None):
        delta_gen, added = decode_delta(slots[slot])  # type: ignore[arg-type]
        if delta_gen == gen:
            for event in added:
                part.observe(account, *event)
            since = slot
    logs[account] = (gen, since, high)
