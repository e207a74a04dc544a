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

from collections.abc import Sequence
from typing import Final

import msgspec

from streams.model.account_window import AccountState, decode_state, encode_state

Added = tuple[int, float, str | None, str | None]
"""An event as a delta carries it: event time, amount, merchant category, country."""

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
