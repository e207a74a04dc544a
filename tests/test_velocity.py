"""Velocity features against a brute-force recomputation from the whole event history:
equal for every event (out of order, late, cold, idle accounts), state bounded."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.model.account_window import COARSE, FINE, decode_state, encode_state
from streams.model.velocity import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    VELOCITY_FEATURES,
    AccountFeatures,
    VelocityConfig,
)

Event = tuple[str, int, float, str | None, str | None]


def brute_force(events: list[Event], cfg: VelocityConfig) -> list[tuple[list[float], bool]]:
    """Each event's features from every earlier event of its account since its last
    cold start, nothing kept or dropped: the definition, slowly."""
    out: list[tuple[list[float], bool]] = []
    history: dict[str, list[Event]] = {}
    for event in events:
        account, t, amount = event[0], event[1], event[2]
        earlier = history.get(account, [])
        latest = max((e[1] for e in earlier), default=None)
        cold = latest is None or t - latest > cfg.retention_ms
        if cold:
            earlier = history[account] = []
            out.append(([math.nan] * len(VELOCITY_FEATURES), True))
        elif t < latest - cfg.lateness_ms:  # type: ignore[operator]
            out.append(([math.nan] * len(VELOCITY_FEATURES), False))
        else:
            out.append((_definition(earlier, t, amount, latest), False))  # type: ignore[arg-type]
        earlier.append(event)
    return out


def _definition(earlier: list[Event], t: int, amount: float, latest: int) -> list[float]:
    """Sums correctly rounded (``fsum``); the mean of every earlier amount, exactly, then
    rounded."""

    def window(w: int) -> list[Event]:
        return [e for e in earlier if t - w < e[1] <= t]

    day = window(DAY_MS)
    mean = float(sum(Fraction(e[2]) for e in earlier) / len(earlier))
    return [
        *(len(window(w)) for w in (MINUTE_MS, HOUR_MS, DAY_MS)),
        *(math.fsum(e[2] for e in window(w)) for w in (MINUTE_MS, HOUR_MS, DAY_MS)),
        len({e[3] for e in day if e[3] is not None}),
        len({e[4] for e in day if e[4] is not None}),
        max(0, t - latest) / 1000,
        amount / mean if mean > 0 else math.nan,
    ]


def same(a: list[float], b: list[float]) -> bool:
    return all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True))


events_st = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 40 * DAY_MS),
        st.floats(0, 1e4, allow_nan=False),
        st.sampled_from([None, "grocery", "travel", "gaming"]),
        st.sampled_from([None, "GB", "FR"]),
    ),
    max_size=80,
)


def _dense(seed_events: list[tuple[Any, ...]]) -> list[Event]:
    """Events close in time (minutes apart, some out of order): windows overlap."""
    t = 10 * DAY_MS
    out = []
    for account, step, amount, merchant, country in seed_events:
        t += step % (3 * HOUR_MS) - 20 * MINUTE_MS  # mostly forward, sometimes back
        out.append((account, t, amount, merchant, country))
    return out


@settings(max_examples=300, deadline=None)
@given(events_st, st.sampled_from([0, MINUTE_MS, HOUR_MS]), st.booleans())
def test_equal_to_the_definition(raw: list[Event], lateness: int, dense: bool) -> None:
    cfg = VelocityConfig(lateness_ms=lateness, retention_ms=5 * DAY_MS)
    events = _dense(raw) if dense else raw
    acc = AccountFeatures(cfg)
    for event, (want, want_cold) in zip(events, brute_force(events, cfg), strict=True):
        got, cold = acc.observe(*event)
        assert cold == want_cold and same(got, want), (event, got, want)


def test_state_is_bounded_by_a_day_and_the_lateness() -> None:
    cfg = VelocityConfig(lateness_ms=HOUR_MS)
    acc = AccountFeatures(cfg)
    for i in range(10_000):  # one event a minute for ~7 days
        acc.observe("a", i * MINUTE_MS, 1.0, "grocery", "GB")
    kept, reachable = acc.accounts["a"].state, (DAY_MS + HOUR_MS) // MINUTE_MS
    assert reachable <= len(kept.times) <= reachable * 8 // 7  # dropped an eighth at a time
    assert kept.count == 10_000  # the running mean still sees every event


def test_cold_start_is_missing_not_zero() -> None:
    acc = AccountFeatures(VelocityConfig())
    values, cold = acc.observe("new", DAY_MS, 5.0, None, None)
    assert cold and all(math.isnan(v) for v in values)
    values, cold = acc.observe("new", DAY_MS + 2 * HOUR_MS, 5.0, None, None)
    assert not cold and values[0] == 0 and values[2] == 1  # history now: real zeros


def test_an_event_late_within_the_allowance_still_sees_a_whole_day_back() -> None:
    cfg = VelocityConfig(lateness_ms=HOUR_MS)
    events: list[Event] = [
        ("a", 10 * MINUTE_MS, 1.0, "grocery", "GB"),
        ("a", DAY_MS + HOUR_MS, 2.0, "travel", "FR"),  # the latest: an hour after a day
        ("a", DAY_MS + MINUTE_MS, 4.0, None, None),  # 59 min late: allowed
    ]
    acc = AccountFeatures(cfg)
    got = [acc.observe(*e) for e in events]
    for (values, cold), (want, want_cold) in zip(got, brute_force(events, cfg), strict=True):
        assert cold == want_cold and same(values, want)
    assert got[2][0][2] == 1  # count_24h: the first event, 23 h 51 min before


def test_out_of_order_on_a_coarse_clock_equal_to_the_definition() -> None:
    """Times on a 30 s grid (window edges fall exactly on events), a quarter of them
    up to 50 min back: every boundary and the out-of-order path, thousands of times."""
    rng = random.Random(27)
    cfg = VelocityConfig(lateness_ms=HOUR_MS, retention_ms=2 * DAY_MS)
    clock = {"a": DAY_MS, "b": DAY_MS}
    events: list[Event] = []
    for _ in range(4_000):
        account = rng.choice("ab")
        step = rng.choice([0, 1, 2, 2, 4, 120, 720, 2_880]) * 30_000
        clock[account] += step
        back = rng.choice([1, 2, 3, 4, 120, 119]) * 30_000 if rng.random() < 0.25 else 0
        merchant = rng.choice([None, None, "grocery", "grocery", "grocery", "travel", "gaming"])
        country = rng.choice([None, "GB", "GB", "GB", "FR", "DE"])
        events.append(
            (account, clock[account] - back, rng.choice([0.1, 2.5, 99.99, 0.0]), merchant, country)
        )
    acc = AccountFeatures(cfg)
    late = 0
    for event, (want, want_cold) in zip(events, brute_force(events, cfg), strict=True):
        got, cold = acc.observe(*event)
        assert cold == want_cold and same(got, want), (event, got, want)
        late += event[1] < acc.accounts[event[0]].state.last_time
    assert late > 300  # the out-of-order path ran


def test_an_amount_finer_than_the_coarse_unit_keeps_every_sum_exact() -> None:
    """An account counts in 2**-64 units until an amount is not a whole number of them
    (5e-324, 1e-30); from then on in 2**-1074, its sums and mean still exact, and its
    state stored and read back the same."""
    cfg = VelocityConfig(lateness_ms=HOUR_MS)
    amounts = [0.1, 2.5, 1e-30, 99.99, 5e-324, 1e4, 0.3, 1e-30]
    events: list[Event] = [
        ("a", DAY_MS + i * 20 * MINUTE_MS - (i % 3) * MINUTE_MS, amounts[i % 8], "m", "GB")
        for i in range(200)  # through several days: fine amounts leave the windows too
    ]
    acc = AccountFeatures(cfg)
    units = []
    for event, (want, want_cold) in zip(events, brute_force(events, cfg), strict=True):
        got, cold = acc.observe(*event)
        assert cold == want_cold and same(got, want), (event, got, want)
        units.append(acc.accounts["a"].state.unit)
    assert units[:2] == [COARSE, COARSE] and units[2:] == [FINE] * 198
    state = acc.accounts["a"].state
    assert decode_state(encode_state(state)) == state
