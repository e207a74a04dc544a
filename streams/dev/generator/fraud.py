"""The ground truth: fraud log-odds from an event's true features, per event and per block."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.contract import events as c
from streams.dev.generator.world import F64, I64, MS_HOUR, REMOTE, RISKY, SIGNALS, SKIMMED, Bool


@dataclass(slots=True)
class Block:
    index: I64
    time: I64
    acct: I64
    channel: I64
    merchant: I64
    country: I64
    currency: I64
    new_device: Bool
    foreign_ip: Bool
    age: I64
    tx1h: I64
    tx24h: I64
    avg: F64
    distance: F64
    amount: F64
    concept: Bool = field(default_factory=lambda: np.zeros(0, bool))
    drifted: Bool = field(default_factory=lambda: np.zeros(0, bool))
    missing: dict[int, set[str]] = field(default_factory=dict)  # row -> fields left out


def logit(s: Mapping[str, F64], concept: Bool) -> F64:
    """Fraud log-odds from named signals; NaN (missing) signals contribute nothing."""
    ratio = np.clip(np.log1p(s["amount"]) - np.log1p(s["avg_amount_30d"]), 0.0, 4.0)
    parts = (
        0.9 * ratio,
        0.5 * (s["hour"] < 6),
        0.25 * np.minimum(s["txn_count_1h"], 10.0),
        0.35 * np.log1p(s["distance_from_home_km"] / 100.0),
        1.0 * (s["account_age_days"] < 30) + 0.5 * (s["account_age_days"] < 365),
        np.where(concept, 0.0, 1.6) * s["is_new_device"],
        1.2 * s["is_foreign_ip"],
        0.9 * s["remote"] + 0.9 * s["risky"],
        np.where(concept, 3.3, 0.0) * s["card_present"] * s["skimmed"],
        # behaviour (takeovers only): payments in the last minute beyond the account's
        # usual (a burst), and many countries within the day
        1.2 * np.clip(s.get("recent_1m", 0.0) - 1.0, 0.0, 4.0),
        0.8 * (s.get("countries_24h", 0.0) >= 3),
    )
    return np.asarray(-6.9 + sum(np.nan_to_num(x) for x in parts), dtype=np.float64)


def fraud_probability(event: Mapping[str, Any], concept: bool = False) -> float:
    """Ground-truth fraud probability of one event dict (``concept``: the drifted relation).

    >>> ev = {"event_time": 1767268800000, "amount": 20.0, "avg_amount_30d": 25.0,
    ...       "channel": "pos", "card_present": True, "merchant_category": "grocery",
    ...       "account_age_days": 900, "txn_count_1h": 0, "distance_from_home_km": 3.0}
    >>> p = fraud_probability(ev)
    >>> 0.0 < p < 0.01 < fraud_probability({**ev, "channel": "ecom", "is_new_device": True})
    True
    """
    s: dict[str, F64] = {
        k: np.array([math.nan if event.get(k) is None else float(event[k])]) for k in SIGNALS
    }
    s["hour"] = s["event_time"] // MS_HOUR % 24
    merchant = event.get("merchant_category")
    s["remote"] = np.array([float(event.get("channel") in ("ecom", "moto"))])
    s["risky"] = np.array([float(merchant in c.RISKY_MERCHANT_CATEGORIES)])
    s["skimmed"] = np.array([float(merchant in ("fuel", "grocery"))])
    return float(1.0 / (1.0 + math.exp(-logit(s, np.array([concept]))[0])))


def block_probability(b: Block, behaviour: Mapping[str, F64] | None = None) -> F64:
    """Per event of a block; ``behaviour``: the accounts' real recent behaviour, when
    the generator makes takeovers (:mod:`streams.dev.generator.takeover`)."""
    remote = np.isin(b.channel, REMOTE)
    cols = {
        "amount": b.amount,
        "avg_amount_30d": b.avg,
        "hour": b.time // MS_HOUR % 24,
        "account_age_days": b.age,
        "txn_count_1h": b.tx1h,
        "distance_from_home_km": b.distance,
        "is_new_device": b.new_device,
        "is_foreign_ip": b.foreign_ip,
        "card_present": ~remote,
        "remote": remote,
        "risky": RISKY[b.merchant],
        "skimmed": SKIMMED[b.merchant],
    }
    s = {k: v.astype(np.float64) for k, v in cols.items()} | dict(behaviour or {})
    return np.asarray(1.0 / (1.0 + np.exp(-logit(s, b.concept))), dtype=np.float64)
