"""Velocity features: what an account's own recent events say, computed in the stream.

Per account, over its earlier events in topic order (events are keyed by account, so
one partition holds an account's whole history in order): counts and amount sums
over the last minute, hour and day, distinct merchant categories and countries over
the day, seconds since the latest earlier event, and the amount over the account's
running mean. A window of length W holds the earlier events whose event time is in
``(t - W, t]``, ``t`` being this event's time, so events that arrive out of order
count where their time puts them. One code path for serving and training: the
trainer runs :class:`AccountFeatures` over the same event order, so there is no skew.

Rules, each one checked against a brute-force recomputation (``tests/test_velocity.py``):

- **cold start**: an account with no earlier event, or none for ``retention_ms`` of
  event time, gets every velocity feature missing (NaN, not zeros that look like
  data) and ``cold`` true; its state starts again;
- **late**: an event more than ``lateness_ms`` older than the account's latest
  earlier event gets every velocity feature missing (its windows may reach past what
  is kept) but still counts for later events;
- **bounded**: an account keeps the events of its last ``day + lateness`` of event
  time (and up to a seventh more, dropped in batches), its running count and sum.

Each window's count, exact sum and (for the day) category counts are kept as the
window slides (:mod:`streams.model.account_window`), so an event in order costs the
same however busy its account; one out of order costs a few ns more per event of
its account in the ``lateness_ms`` before its latest.

>>> acc = AccountFeatures(VelocityConfig())
>>> acc.observe("a1", 1_000_000, 10.0, "grocery", "GB")
([nan, nan, nan, nan, nan, nan, nan, nan, nan, nan], True)
>>> acc.observe("a1", 1_030_000, 30.0, "travel", "GB")[0]
[1, 1, 1, 10.0, 10.0, 10.0, 1, 1, 30.0, 3.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.config import default
from streams.model.account_window import DAY_MS, HOUR_MS, MINUTE_MS, AccountWindows

__all__ = ["DAY_MS", "HOUR_MS", "MINUTE_MS", "VELOCITY_FEATURES", "AccountFeatures"]

NAN = math.nan

VELOCITY_FEATURES: tuple[str, ...] = (
    "count_1m",
    "count_1h",
    "count_24h",
    "amount_sum_1m",
    "amount_sum_1h",
    "amount_sum_24h",
    "merchant_categories_24h",
    "countries_24h",
    "seconds_since_last",
    "amount_vs_mean",
)
"""The computed features, in model order after the event's own."""

_MISSING = [NAN] * len(VELOCITY_FEATURES)


@dataclass(frozen=True)
class VelocityConfig:
    """How late an event may be, and how long an idle account is remembered (ms; the
    defaults: the settings', :func:`streams.scoring.factory.velocity_config`)."""

    lateness_ms: int = default("velocity_lateness_ms")
    retention_ms: int = default("velocity_retention_ms")


class AccountFeatures:
    """Every account's state, and the velocity features of each event as it comes."""

    def __init__(self, config: VelocityConfig) -> None:
        self.config = config
        self.accounts: dict[str, AccountWindows] = {}

    def observe(
        self, account: str, t: int, amount: float, merchant: str | None, country: str | None
    ) -> tuple[list[float], bool]:
        """This event's velocity features (NaN: missing) and whether it is a cold start;
        then the event joins its account's state."""
        windows = self.accounts.get(account)
        cfg = self.config
        cold = windows is None or t - windows.state.last_time > cfg.retention_ms
        if windows is None or cold:
            windows = self.accounts[account] = AccountWindows.empty()
            values = list(_MISSING)
        elif t < windows.state.last_time - cfg.lateness_ms:
            values = list(_MISSING)
        else:
            values = windows.features(t, amount)
        windows.add(t, amount, merchant, country, DAY_MS + cfg.lateness_ms)
        return values, cold
