"""Undo of the velocity state for transactions not settled: what an account was before.

An account's kept events only grow at their end while it takes events in order, so
what it was before a transaction is a *mark*: its list length and its scalars (0.3 µs),
not a copy of its lists (3 µs and more for a busy account, paid per account per batch).
Only when its lists are rewritten in place (a head of old events dropped, an event
inserted out of order) does the windows' ``guard`` copy them first, for every mark
still without a copy (the transactions out and the one open, at most three).

>>> from streams.model.account_window import DAY_MS
>>> w = AccountWindows.empty()
>>> w.add(1_000, 2.0, "grocery", "GB", DAY_MS)
>>> before = Mark(w.state)
>>> w.add(2_000, 3.0, None, None, DAY_MS)
>>> restored = undone(before, w.state)
>>> restored.times, restored.count
([1000], 1)
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.model.account_window import AccountState, AccountWindows


class Mark:
    """An account as it was: the length of its kept lists and its scalars; ``copy``: its
    lists, taken when they were first rewritten in place after the mark."""

    __slots__ = ("copy", "count", "last_time", "length", "total", "unit")

    def __init__(self, state: AccountState) -> None:
        s = state
        self.length, self.count, self.total = len(s.times), s.count, s.total
        self.last_time, self.unit = s.last_time, s.unit
        self.copy: AccountState | None = None


Before = AccountState | Mark | None
"""What an account was before a transaction: a whole state (an expired account's),
a mark, or None (it did not exist)."""


def undone(before: Mark, current: AccountState | None) -> AccountState:
    """The state ``before`` marks, from the copy taken at a rewrite or else from
    ``current`` (no rewrite since the mark: its lists only grew at the end)."""
    base = before.copy or current
    if base is None:
        raise ValueError("an account gone without its guard copying it first")
    n = before.length
    return AccountState(
        base.times[:n],
        base.amounts[:n],
        base.merchants[:n],
        base.countries[:n],
        before.count,
        before.total,
        before.last_time,
        before.unit,
    )


def copy_for(marks: Iterable[Before], windows: AccountWindows) -> None:
    """Before ``windows``' lists are rewritten: give every mark without a copy one (the
    same one: each takes its own length of it)."""
    copy = None
    for before in marks:
        if isinstance(before, Mark) and before.copy is None:
            if copy is None:
                s = windows.state
                lists = s.times[:], s.amounts[:], s.merchants[:], s.countries[:]
                copy = AccountState(*lists, s.count, s.total, s.last_time, s.unit)
            before.copy = copy
