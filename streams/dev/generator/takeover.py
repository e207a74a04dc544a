"""Account takeovers: bursts of an account's payments, and the behaviour fraud follows.

With ``GeneratorConfig.takeovers`` > 0, each event starts a takeover with that
probability: a few to a dozen more payments of the same account follow within the
next 200 events of the stream, each one ordinary on its own (its risk signals are
drawn as any payment's). Fraud then depends on what the account really did: its
payments in the last minute beyond its usual rate, and the countries it paid in over
the day, computed over
the generated stream in order by the same code the scorer uses
(:mod:`streams.model.velocity`), so a model that sees those features can learn it.

>>> import numpy as np
>>> acct, _ = burst(np.arange(100), np.zeros(100, bool), np.random.default_rng(1), 0.02)
>>> len(set(acct.tolist())) < 100  # 100 accounts before: some paid again, in a burst
True
"""

from __future__ import annotations

import numpy as np

from streams.dev.generator.world import F64, I64, Bool
from streams.model.velocity import VELOCITY_FEATURES, AccountFeatures, VelocityConfig

_SPAN = 200  # positions a burst spreads over: 4 s at the default 50 events/s, 100 s at 2
_COUNT_1M = VELOCITY_FEATURES.index("count_1m")
_COUNTRIES = VELOCITY_FEATURES.index("countries_24h")


def burst(acct: I64, attack: Bool, rng: np.random.Generator, rate: float) -> tuple[I64, Bool]:
    """Accounts and attack flags with takeover bursts: after each start, 3 + Poisson(5)
    later positions of the block become the same account's, flagged as the start is."""
    acct, attack = acct.copy(), attack.copy()
    n = len(acct)
    for i in np.flatnonzero(rng.random(n) < rate).tolist():
        room = min(_SPAN, n - 1 - i)
        k = min(room, 3 + int(rng.poisson(5.0)))
        later = i + 1 + rng.choice(room, size=k, replace=False) if k > 0 else np.zeros(0, int)
        acct[later] = acct[i]
        attack[later] = attack[i]  # the burst's payments look like its first, nothing more
    return acct, attack


class Behaviour:
    """The accounts' real recent behaviour, event by event in stream order."""

    def __init__(self) -> None:
        self._features = AccountFeatures(VelocityConfig())

    def observe(
        self,
        accounts: list[str],
        times: list[int],
        amounts: list[float],
        places: tuple[list[str], list[str]],
    ) -> dict[str, F64]:
        """Per event: the account's payments in the minute before it and the countries
        it paid in over the day (0 for an account's first payment)."""
        observe = self._features.observe
        merchants, countries = places
        rows = [
            observe(*event)[0]
            for event in zip(accounts, times, amounts, merchants, countries, strict=True)
        ]
        values = np.nan_to_num(np.array(rows, dtype=np.float64).reshape(-1, len(VELOCITY_FEATURES)))
        return {"recent_1m": values[:, _COUNT_1M], "countries_24h": values[:, _COUNTRIES]}
