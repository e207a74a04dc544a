"""One account's sliding windows: what is stored, and the running aggregates over it.

:class:`AccountState` is what an account's store entry (and its changelog record)
holds: the events of its last day and lateness in event-time order, its running count
and exact amount sum, its latest event time. :class:`AccountWindows` adds what is
derived from it and kept up to date as the windows slide, never stored: per window
its first event and exact sum, and the day's counts per merchant category and country.

Sums are exact: every float is a whole number of units of 2**-1074, so sums of floats
are kept as Python ints and divided once (int / int is correctly rounded): the same
as ``math.fsum`` of the window's amounts, whatever the order events came in. An
account counts in units of 2**-64 while every amount it had is a whole number of
them (any amount of 2**-11 or more is): its ints are then ~100 bits, not ~1,100, and
an amount converts by one multiplication (0.1 µs, a third of the 2**-1074 route). Its
first finer amount moves it to 2**-1074 for good.

>>> w = AccountWindows.empty()
>>> w.add(1_000, 10.0, "grocery", "GB", DAY_MS)
>>> w.add(62_000, 20.0, "travel", None, DAY_MS)
>>> w.features(63_000, 45.0)  # counts and sums over 1 min, 1 h, 1 day; ...; x the mean
[1, 2, 2, 20.0, 30.0, 30.0, 2, 1, 1.0, 3.0]
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from typing import Final

import msgspec

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
WINDOWS: Final = (MINUTE_MS, HOUR_MS, DAY_MS)
FINE: Final = 1074  # 2**-1074, the smallest float: every float is a whole multiple of it
COARSE: Final = 64  # 2**-64: what an account counts in until an amount needs finer units
_SCALE: Final = float(1 << COARSE)
_NAN: Final = float("nan")

Categories = Counter[str | None]
"""How many of a window's events have each level (None: missing)."""


def exact(amount: float) -> int:
    """``amount`` in units of 2**-1074, exactly.

    >>> exact(0.5) == 2 ** 1073
    True
    """
    num, den = amount.as_integer_ratio()
    return num << (FINE - den.bit_length() + 1)


def _coarse(amount: float) -> int | None:
    """``amount`` in units of 2**-64, or None if it is not a whole number of them."""
    scaled = amount * _SCALE  # a power of two: exact (inf, not a whole number, past 2**960)
    return int(scaled) if scaled.is_integer() else None


class AccountState(msgspec.Struct, array_like=True):
    """An account's kept events in event-time order, running count, exact amount sum
    (in units of 2**-``unit``) and latest event time: what is stored."""

    times: list[int]
    amounts: list[float]
    merchants: list[str | None]
    countries: list[str | None]
    count: int = 0
    total: int = 0
    last_time: int = 0
    unit: int = FINE  # COARSE or FINE


class _Stored(msgspec.Struct, array_like=True):
    """:class:`AccountState` as stored: the exact sum as bytes (msgpack has no big ints)."""

    times: list[int]
    amounts: list[float]
    merchants: list[str | None]
    countries: list[str | None]
    count: int
    total: bytes
    last_time: int
    unit: int = FINE


_ENCODE: Final = msgspec.msgpack.Encoder().encode
_DECODE: Final = msgspec.msgpack.Decoder(_Stored).decode


def encode_state(state: AccountState) -> bytes:
    """An account's state as stored (msgpack, array-like: a day of events ~20 B each)."""
    s = state
    total = s.total.to_bytes(s.total.bit_length() // 8 + 1, "little", signed=True)
    stored = _Stored(
        s.times, s.amounts, s.merchants, s.countries, s.count, total, s.last_time, s.unit
    )
    return _ENCODE(stored)


def decode_state(raw: bytes) -> AccountState:
    """:func:`encode_state`'s inverse.

    >>> s = AccountState([5], [0.1], ["grocery"], [None], 1, exact(0.1), 5)
    >>> decode_state(encode_state(s)) == s
    True
    """
    w = _DECODE(raw)
    total = int.from_bytes(w.total, "little", signed=True)
    return AccountState(
        w.times, w.amounts, w.merchants, w.countries, w.count, total, w.last_time, w.unit
    )


class AccountWindows:
    """An account's state with each window's first index and exact sum, and the day's
    category counts, for windows ending at the account's latest event time."""

    def __init__(self, state: AccountState) -> None:
        self.state = state
        # called before the kept lists are rewritten in place, not appended to (the
        # scorer's undo copies them then: :mod:`streams.scoring.state_undo`)
        self.guard: Callable[[], None] | None = None
        last = state.last_time
        self.lo = [bisect_right(state.times, last - w) for w in WINDOWS]
        n = len(state.times)
        self.sums = [self._sum(lo, n) for lo in self.lo]
        day = self.lo[-1]
        self.merchants = Counter(state.merchants[day:])
        self.countries = Counter(state.countries[day:])

    @classmethod
    def empty(cls) -> AccountWindows:
        """A new account's."""
        return cls(AccountState([], [], [], [], unit=COARSE))

    def features(self, t: int, amount: float) -> list[float]:
        """The velocity features of an event at ``t`` (at most ``lateness`` before the
        latest) from the events before it; an event in order moves the windows to ``t``."""
        state = self.state
        since_last = max(0, t - state.last_time) / 1000
        if t >= state.last_time:
            self._slide(t)
            n, (lo1, lo2, lo3) = len(state.times), self.lo
            counts = [n - lo1, n - lo2, n - lo3]
            sums, merchants, countries = self.sums, self.merchants, self.countries
        else:
            counts, sums, merchants, countries = self._earlier(t)
        unit = state.unit
        mean = state.total / (state.count << unit)
        return [
            *counts,
            sums[0] / (1 << unit),
            sums[1] / (1 << unit),
            sums[2] / (1 << unit),
            len(merchants) - (None in merchants),
            len(countries) - (None in countries),
            since_last,
            amount / mean if mean > 0 else _NAN,
        ]

    def _slide(self, t: int) -> None:
        """Move every window's start to ``t - window`` (events only leave)."""
        s = self.state
        times, lo, n = s.times, self.lo, len(s.times)
        for k in (0, 1):  # the minute and the hour
            i, bound = lo[k], t - WINDOWS[k]
            if i < n and times[i] <= bound:
                gone = bisect_right(times, bound, i)
                self.sums[k] -= self._sum(i, gone)
                lo[k] = gone
        i, bound = lo[2], t - DAY_MS
        if i < n and times[i] <= bound:  # the day: its categories too
            gone = bisect_right(times, bound, i)
            self.sums[2] -= self._sum(i, gone)
            _drop(self.merchants, s.merchants[i:gone])
            _drop(self.countries, s.countries[i:gone])
            lo[2] = gone
        s.last_time = t

    def _earlier(self, t: int) -> tuple[list[int], list[int], Categories, Categories]:
        """The windows ending at ``t`` before the latest time: the kept ones, with the
        events in ``(t - w, latest - w]`` added and those after ``t`` taken out."""
        s = self.state
        end = bisect_right(s.times, t)
        counts, sums = [], []
        for k, w in enumerate(WINDOWS):
            lo = bisect_right(s.times, t - w, 0, self.lo[k])
            counts.append(end - lo)
            # the kept window, plus what it starts after, less what comes after t
            more = self._sum(lo, self.lo[k]) - self._sum(end, len(s.times))
            sums.append(self.sums[k] + more)
        day = bisect_right(s.times, t - DAY_MS, 0, self.lo[-1])
        merchants = _moved(self.merchants, s.merchants, (day, self.lo[-1]), end)
        countries = _moved(self.countries, s.countries, (day, self.lo[-1]), end)
        return counts, sums, merchants, countries

    def add(
        self, t: int, amount: float, merchant: str | None, country: str | None, keep_ms: int
    ) -> None:
        """Add an event (after those of the same time), then drop the events no later
        window can reach (older than ``keep_ms`` before the latest), a batch of them
        at a time (at least an eighth of those kept: a list's head costs its length to
        delete, so a busy account pays it once per eighth, not per event)."""
        s = self.state
        ex = _coarse(amount) if s.unit == COARSE else exact(amount)
        if ex is None:  # the account's first amount finer than 2**-64
            self._refine()
            ex = exact(amount)
        if t >= s.last_time:  # in order: at the end, inside every window
            s.times.append(t)
            s.amounts.append(amount)
            s.merchants.append(merchant)
            s.countries.append(country)
            sums = self.sums
            sums[0], sums[1], sums[2] = sums[0] + ex, sums[1] + ex, sums[2] + ex
            self.merchants[merchant] += 1
            self.countries[country] += 1
            s.last_time = t
        else:
            if self.guard is not None:
                self.guard()
            self._insert(t, amount, merchant, country, ex)
        s.count, s.total = s.count + 1, s.total + ex
        gone = bisect_right(s.times, s.last_time - keep_ms, 0, self.lo[0])
        if gone and gone * 8 >= len(s.times):
            if self.guard is not None:
                self.guard()
            del s.times[:gone], s.amounts[:gone], s.merchants[:gone], s.countries[:gone]
            self.lo = [lo - gone for lo in self.lo]

    def _sum(self, start: int, stop: int) -> int:
        """The exact sum of the kept amounts ``[start:stop]``, in the account's units."""
        amounts = self.state.amounts[start:stop]
        if self.state.unit == COARSE:  # each a whole number of units: one C loop
            return sum(map(int, map(_SCALE.__mul__, amounts)))
        return sum(map(exact, amounts))

    def _refine(self) -> None:
        """Count in units of 2**-1074 from now on (the sums and total scaled exactly)."""
        s, up = self.state, FINE - COARSE
        s.total, s.unit = s.total << up, FINE
        self.sums = [total << up for total in self.sums]

    def _insert(
        self, t: int, amount: float, merchant: str | None, country: str | None, ex: int
    ) -> None:
        """Add an event earlier than the latest where its time puts it."""
        s = self.state
        at = bisect_right(s.times, t)
        s.times.insert(at, t)
        s.amounts.insert(at, amount)
        s.merchants.insert(at, merchant)
        s.countries.insert(at, country)
        for k, w in enumerate(WINDOWS):
            if t <= s.last_time - w:  # before the window (which starts after it)
                self.lo[k] += 1
                continue
            self.sums[k] += ex
            if w == DAY_MS:
                self.merchants[merchant] += 1
                self.countries[country] += 1


def _drop(counts: Categories, keys: list[str | None]) -> None:
    """Take ``keys`` out of ``counts``, dropping the levels left with none."""
    for key in keys:
        left = counts[key] - 1
        if left:
            counts[key] = left
        else:
            del counts[key]


def _moved(
    counts: Categories, keys: list[str | None], added: tuple[int, int], end: int
) -> Categories:
    """``counts`` with ``keys[added[0]:added[1]]`` added and ``keys[end:]`` taken out."""
    out = counts.copy()
    out.update(keys[added[0] : added[1]])
    out.subtract(keys[end:])
    return +out  # drops the zeros
