"""Synthetic card-payment events with ground-truth fraud labels, drift, messy input and feedback.

Pure and deterministic by seed: no Kafka, no global random state. Independent
random streams (spawned from one ``SeedSequence``) drive the events, drift,
labels, corruption and feedback, so turning on messy input or feedback does not
change the events, and a drift leaves every event before its start unchanged.

The label is drawn from :func:`fraud_probability` of the event's true features
(before corruption or drift-removed fields), so it is noisy by construction.
Feedback label delays are **exponential** in event time with mean ``delay_mean_s``.

>>> recs = list(generate(GeneratorConfig(seed=1, count=3, accounts=50)))
>>> [r.topic for r in recs], recs[0].value[:25]
(['events', 'events', 'events'], b'{"event_id":"ev-1-0","eve')
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from streams import events as c
from streams.messy import MESSY_KINDS, MessySpec, corrupt, expected_valid

__all__ = [
    "MESSY_KINDS",
    "CleanEvents",
    "DriftSpec",
    "FeedbackSpec",
    "GeneratorConfig",
    "MessySpec",
    "Record",
    "fraud_probability",
    "generate",
    "generate_events_clean",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
_BLOCK = 1024
_MS_HOUR, _MS_DAY = 3_600_000, 86_400_000
_M = {name: i for i, name in enumerate(c.MERCHANT_CATEGORIES)}
_ECOM, _MOTO = c.CHANNELS.index("ecom"), c.CHANNELS.index("moto")
_RISKY_NAMES = ("electronics", "jewelry", "gaming", "gambling", "money_transfer")
_RISKY = np.isin(c.MERCHANT_CATEGORIES, _RISKY_NAMES)
_SIGNALS = (
    "event_time",
    "amount",
    "avg_amount_30d",
    "account_age_days",
    "txn_count_1h",
    "distance_from_home_km",
    "is_new_device",
    "is_foreign_ip",
    "card_present",
)
_SKIMMED = np.isin(c.MERCHANT_CATEGORIES, ("fuel", "grocery"))
_MERCHANT_AMOUNT = np.array([1.0, 0.9, 1.3, 3.0, 4.0, 0.6, 5.0, 0.8, 1.5, 0.7, 1.6, 3.0])
# channel (pos ecom atm moto) | merchant mixes: in person, remote, account takeover
_CHANNEL_P = np.array([[0.58, 0.33, 0.06, 0.03], [0.15, 0.70, 0.05, 0.10]])
_MERCHANT_P = np.array(
    [
        [0.30, 0.18, 0.12, 0.05, 0.03, 0.01, 0.02, 0.01, 0.01, 0.10, 0.15, 0.02],
        [0.08, 0.08, 0.00, 0.12, 0.15, 0.25, 0.02, 0.07, 0.04, 0.03, 0.14, 0.02],
        [0.02, 0.02, 0.02, 0.25, 0.08, 0.10, 0.12, 0.10, 0.09, 0.01, 0.05, 0.14],
    ]
)
# per country (DE FR GB NL ES IT PL SE CH US BR NG RU CN): share of homes, lat/lon, currency
_HOME_P = np.array(
    [0.22, 0.15, 0.14, 0.06, 0.08, 0.08, 0.06, 0.03, 0.03, 0.08, 0.03, 0.01, 0.01, 0.02]
)
_LATLON = np.radians(
    [
        [51.2, 10.4],
        [46.6, 2.2],
        [54.0, -2.0],
        [52.1, 5.3],
        [40.2, -3.7],
        [42.8, 12.6],
        [52.0, 19.1],
        [62.0, 15.0],
        [46.8, 8.2],
        [39.8, -98.6],
        [-10.8, -52.9],
        [9.1, 8.7],
        [61.5, 105.3],
        [35.9, 104.2],
    ]
)
_CURRENCY = np.array(
    [
        c.CURRENCIES.index(x)
        for x in (
            "EUR",
            "EUR",
            "GBP",
            "EUR",
            "EUR",
            "EUR",
            "PLN",
            "SEK",
            "CHF",
            "USD",
            "USD",
            "USD",
            "USD",
            "USD",
        )
    ]
)
_LAT, _LON = _LATLON[:, 0], _LATLON[:, 1]
_KM = (
    2
    * 6371.0
    * np.arcsin(
        np.sqrt(
            np.sin((_LAT[:, None] - _LAT) / 2) ** 2
            + np.cos(_LAT[:, None]) * np.cos(_LAT) * np.sin((_LON[:, None] - _LON) / 2) ** 2
        )
    )
)
_ATTACK_RATE = 0.03


@dataclass(frozen=True, slots=True)
class Record:
    """One record for a logical stream, with the ground truth the tests and benchmarks need."""

    topic: Literal["events", "feedback"]  # logical stream, not a Kafka topic name
    key: bytes
    value: bytes  # exactly the bytes to put on the wire
    index: int  # event index (feedback: index of the labelled event, -1 for an unknown id)
    event_time_ms: int  # event_time, or label_time for feedback
    messy_kind: str | None  # None for clean records
    valid: bool  # expected to pass contract validation
    label: int | None  # ground-truth fraud label for events (None for feedback)
    drifted: bool  # event drawn from a drifted regime (feedback: that of the labelled event)


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """A drift from event ``start_index`` on; ``gradual`` ramps its share 0 → 1 over ``width``.

    ``amount_scale`` multiplies amount and avg_amount_30d; ``merchant_shift`` is the
    share of events moved to online_services/electronics; ``ecom_shift`` the share
    of non-ecom events moved to ecom (card not present); ``missing_features`` are
    optional fields left out; ``concept`` switches the fraud relation (new device no
    longer matters, card-present skimming at fuel/grocery appears).

    >>> DriftSpec(100, "gradual", width=50, amount_scale=3.0).kind
    'gradual'
    """

    start_index: int
    kind: Literal["abrupt", "gradual"] = "abrupt"
    width: int = 0
    amount_scale: float = 1.0
    distance_shift_km: float = 0.0
    merchant_shift: float = 0.0
    ecom_shift: float = 0.0
    missing_features: tuple[str, ...] = ()
    concept: bool = False

    def __post_init__(self) -> None:
        if self.kind == "gradual" and self.width <= 0:
            raise ValueError("a gradual drift needs width > 0")
        if set(self.missing_features) - set(c.OPTIONAL):
            raise ValueError(f"missing_features must be optional fields: {self.missing_features}")
        if not (
            0 <= self.merchant_shift <= 1 and 0 <= self.ecom_shift <= 1 and self.amount_scale > 0
        ):
            raise ValueError("shifts must be in [0, 1] and amount_scale positive")

    def active(self, index: I64, u: F64) -> Bool:
        """Which events (by index) are drawn from the drifted regime, given uniforms ``u``."""
        after = index >= self.start_index
        if self.kind == "abrupt":
            return after
        return after & (u < np.clip((index - self.start_index) / self.width, 0.0, 1.0))


@dataclass(frozen=True, slots=True)
class FeedbackSpec:
    """Delayed labels for valid events (exponential delay, mean ``delay_mean_s`` of event time).

    A legitimate event is labelled with probability ``fraction_labelled``, a fraud
    with ``fraud_fraction_labelled``. Per labelled event: ``duplicate_fraction``
    repeats the record, ``correction_fraction`` first sends the wrong label and
    later a correction with the true one, ``unknown_fraction`` adds feedback for an
    event id that was never produced. ``flush`` emits what is pending at the end.
    """

    fraction_labelled: float = 0.3
    fraud_fraction_labelled: float = 0.9
    delay_mean_s: float = 60.0
    duplicate_fraction: float = 0.02
    correction_fraction: float = 0.02
    unknown_fraction: float = 0.01
    flush: bool = True

    def __post_init__(self) -> None:
        shares = (
            self.fraction_labelled,
            self.fraud_fraction_labelled,
            self.duplicate_fraction,
            self.correction_fraction,
            self.unknown_fraction,
        )
        if not all(0.0 <= x <= 1.0 for x in shares) or self.delay_mean_s < 0:
            raise ValueError("feedback fractions must be in [0, 1] and delay_mean_s >= 0")


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """What to generate; ``count`` events (feedback comes in addition)."""

    seed: int = 7
    count: int = 10_000
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    events_per_second: float = 50.0  # simulated rate of the event clock
    accounts: int = 5_000
    messy: MessySpec | None = None
    drift: tuple[DriftSpec, ...] = ()
    feedback: FeedbackSpec | None = None

    def __post_init__(self) -> None:
        if self.count < 0 or self.accounts < 1 or not self.events_per_second > 0:
            raise ValueError("need count >= 0, accounts >= 1 and events_per_second > 0")


class CleanEvents(NamedTuple):
    """Clean events (drift applied, no corruption) with their labels, for training."""

    events: list[dict[str, Any]]
    labels: npt.NDArray[np.int8]
    probabilities: F64
    drifted: Bool


@dataclass(slots=True)
class _Block:
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


def _logit(s: Mapping[str, F64], concept: Bool) -> F64:
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
        k: np.array([math.nan if event.get(k) is None else float(event[k])]) for k in _SIGNALS
    }
    s["hour"] = s["event_time"] // _MS_HOUR % 24
    merchant = event.get("merchant_category")
    s["remote"] = np.array([float(event.get("channel") in ("ecom", "moto"))])
    s["risky"] = np.array([float(merchant in _RISKY_NAMES)])
    s["skimmed"] = np.array([float(merchant in ("fuel", "grocery"))])
    return float(1.0 / (1.0 + math.exp(-_logit(s, np.array([concept]))[0])))


def _block_probability(b: _Block) -> F64:
    remote = np.isin(b.channel, (_ECOM, _MOTO))
    cols = {
        "amount": b.amount,
        "avg_amount_30d": b.avg,
        "hour": b.time // _MS_HOUR % 24,
        "account_age_days": b.age,
        "txn_count_1h": b.tx1h,
        "distance_from_home_km": b.distance,
        "is_new_device": b.new_device,
        "is_foreign_ip": b.foreign_ip,
        "card_present": ~remote,
        "remote": remote,
        "risky": _RISKY[b.merchant],
        "skimmed": _SKIMMED[b.merchant],
    }
    s = {k: v.astype(np.float64) for k, v in cols.items()}
    return np.asarray(1.0 / (1.0 + np.exp(-_logit(s, b.concept))), dtype=np.float64)


def _pick(u: F64, probs: F64, group: I64) -> I64:
    """Categorical draw per row: ``probs[group[i]]`` is row i's distribution."""
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    return np.asarray(
        np.minimum((u[:, None] >= cdf[group]).sum(axis=1), probs.shape[1] - 1), dtype=np.int64
    )


def _dumps(obj: dict[str, Any]) -> bytes:
    # orjson returns an over-allocated buffer; keeping thousands of them alive (a block of
    # records) costs ~4 µs each in malloc here. A right-sized copy is ~3x cheaper per event.
    return memoryview(orjson.dumps(obj)).tobytes()


def _event(
    event_id: str,
    event_time: int,
    account_id: str,
    amount: float,
    currency: str,
    channel: str,
    merchant_category: str,
    country: str,
    card_present: bool,
    is_new_device: bool,
    is_foreign_ip: bool,
    account_age_days: int,
    txn_count_1h: int,
    txn_count_24h: int,
    avg_amount_30d: float,
    distance_km: float,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_time": event_time,
        "account_id": account_id,
        "amount": amount,
        "currency": currency,
        "channel": channel,
        "merchant_category": merchant_category,
        "country": country,
        "card_present": card_present,
        "is_new_device": is_new_device,
        "is_foreign_ip": is_foreign_ip,
        "account_age_days": account_age_days,
        "txn_count_1h": txn_count_1h,
        "txn_count_24h": txn_count_24h,
        "avg_amount_30d": avg_amount_30d,
        "distance_from_home_km": distance_km,
    }


class _Engine:
    """Account population, random streams and the event clock."""

    def __init__(self, config: GeneratorConfig) -> None:
        seqs = np.random.SeedSequence(config.seed).spawn(6)
        pop, self.ev, self.drift, self.lab, self.messy, self.fb = map(np.random.default_rng, seqs)
        n = config.accounts
        w = pop.permutation(1.0 / np.arange(1, n + 1) ** 0.8)  # Zipf-ish activity
        self.cdf = np.cumsum(w) / w.sum()
        self.home = _pick(pop.random(n), _HOME_P[None, :], np.zeros(n, np.int64))
        self.typical = np.exp(pop.normal(3.4, 0.7, n))
        self.age0 = np.minimum(pop.gamma(1.2, 800.0, n), 30_000).astype(np.int64)
        self.lam1h = np.clip(0.15 * w / w.mean(), 0.02, 3.0)
        self.ids = [f"acct-{i:06d}" for i in range(n)]
        self.keys = [a.encode() for a in self.ids]
        self.config, self.clock = config, 0.0

    def _draw(self, start: int, n: int) -> _Block:
        r, cfg = self.ev, self.config
        u = r.random((8, n))
        clock = self.clock + np.cumsum(r.exponential(1000.0 / cfg.events_per_second, n))
        self.clock = float(clock[-1])
        time = cfg.start_ms + clock.astype(np.int64)
        acct = np.minimum(np.searchsorted(self.cdf, u[0], side="right"), len(self.cdf) - 1)
        attack = u[1] < _ATTACK_RATE  # account-takeover context: risk signals cluster
        channel = _pick(u[2], _CHANNEL_P, attack * 1)
        remote = np.isin(channel, (_ECOM, _MOTO))
        merchant = _pick(u[3], _MERCHANT_P, np.where(attack, 2, remote * 1))
        abroad = u[4] >= np.where(attack, 0.45, np.where(remote, 0.85, 0.93))
        country, currency, distance = self._place(self.home[acct], abroad, attack)
        p_ip = np.where(attack, 0.55, np.where(remote, np.where(abroad, 0.4, 0.03), 0.01))
        tx1h = r.poisson(self.lam1h[acct]) + np.where(attack, r.poisson(4.0, n), 0)
        amount = (
            self.typical[acct]
            * _MERCHANT_AMOUNT[merchant]
            * np.exp(r.normal(0.0, 0.6, n) + np.where(attack, r.normal(1.0, 0.5, n), 0.0))
        )
        age = self.age0[acct] + (time - cfg.start_ms) // _MS_DAY
        return _Block(
            index=np.arange(start, start + n, dtype=np.int64),
            time=time,
            acct=acct,
            channel=channel,
            merchant=merchant,
            country=country,
            currency=currency,
            new_device=u[5] < np.where(attack, 0.65, np.where(remote, 0.06, 0.005)),
            foreign_ip=u[6] < p_ip,
            age=np.minimum(age, c.MAX_ACCOUNT_AGE_DAYS),
            tx1h=tx1h,
            tx24h=tx1h + r.poisson(self.lam1h[acct] * 16.0),
            avg=self.typical[acct] * np.exp(0.1 * r.normal(size=n)),
            distance=distance,
            amount=amount,
        )

    def _place(self, home: I64, abroad: Bool, attack: Bool) -> tuple[I64, I64, F64]:
        """Merchant country, currency and distance from home (km) of each event."""
        r, n = self.ev, len(home)
        u = r.random((4, n))
        other = _pick(u[0], np.stack([_HOME_P, np.ones(len(_HOME_P))]), attack * 1)
        other = np.where(other == home, (home + 1 + (u[1] * 13).astype(np.int64)) % 14, other)
        country = np.where(abroad, other, home)
        local_km = np.minimum(np.exp(r.normal(np.where(attack, 4.1, 1.8), 1.1, n)), 800.0)
        far_km = _KM[home, country] * np.exp(0.25 * r.normal(size=n))
        currency = np.where(u[2] < 0.92, _CURRENCY[country], (u[3] * 7).astype(np.int64))
        return country, currency, np.where(abroad, far_km, local_km)

    def _apply_drift(self, b: _Block) -> None:
        n = len(b.index)
        b.concept, b.drifted = np.zeros(n, bool), np.zeros(n, bool)
        missing: dict[int, set[str]] = {}
        for spec in self.config.drift:
            u = self.drift.random((4, n))
            act = spec.active(b.index, u[0])
            scale = np.where(act, spec.amount_scale, 1.0)
            b.amount, b.avg = b.amount * scale, b.avg * scale
            b.distance = b.distance + np.where(act, spec.distance_shift_km, 0.0)
            to_m = act & (u[1] < spec.merchant_shift)
            online = np.where(u[2] < 0.5, _M["online_services"], _M["electronics"])
            b.merchant = np.where(to_m, online, b.merchant)
            b.channel = np.where(act & (u[3] < spec.ecom_shift), _ECOM, b.channel)
            b.concept |= act & spec.concept
            b.drifted |= act
            for i in np.flatnonzero(act).tolist() if spec.missing_features else ():
                missing.setdefault(i, set()).update(spec.missing_features)
        b.missing = missing

    def block(self, start: int, n: int) -> tuple[_Block, F64, npt.NDArray[np.int8]]:
        """Draw events ``start .. start+n-1`` with drift, probability and label."""
        b = self._draw(start, n)
        self._apply_drift(b)
        b.amount = np.clip(b.amount, 0.01, c.MAX_AMOUNT).round(2)
        b.avg = np.clip(b.avg, 0.01, c.MAX_AMOUNT).round(2)
        b.distance = np.clip(b.distance, 0.0, c.MAX_DISTANCE_KM).round(1)
        p = _block_probability(b)
        return b, p, (self.lab.random(n) < p).astype(np.int8)

    def dicts(self, b: _Block) -> list[dict[str, Any]]:
        """The clean event dicts of a block, in wire field order."""
        seed, cp = self.config.seed, np.isin(b.channel, (_ECOM, _MOTO), invert=True)
        cols = (
            [f"ev-{seed}-{i}" for i in b.index.tolist()],
            b.time.tolist(),
            [self.ids[a] for a in b.acct.tolist()],
            b.amount.tolist(),
            np.array(c.CURRENCIES, object)[b.currency].tolist(),
            np.array(c.CHANNELS, object)[b.channel].tolist(),
            np.array(c.MERCHANT_CATEGORIES, object)[b.merchant].tolist(),
            np.array(c.COUNTRIES, object)[b.country].tolist(),
            cp.tolist(),
            b.new_device.tolist(),
            b.foreign_ip.tolist(),
            b.age.tolist(),
            b.tx1h.tolist(),
            b.tx24h.tolist(),
            b.avg.tolist(),
            b.distance.tolist(),
        )
        out = list(itertools.starmap(_event, zip(*cols, strict=True)))
        for i, names in b.missing.items():
            for name in names:
                del out[i][name]
        return out

    def messy_kinds(self, n: int) -> list[str | None]:
        spec = self.config.messy
        if spec is None:
            return [None] * n
        u, k = (
            self.messy.random(n),
            _pick(self.messy.random(n), spec.probabilities()[None, :], np.zeros(n, np.int64)),
        )
        hits = (u < spec.fraction).tolist()
        return [spec.kinds[j] if hit else None for hit, j in zip(hits, k.tolist(), strict=True)]

    def records(self, start: int, n: int) -> list[Record]:
        """Event records ``start .. start+n-1`` (messy input applied)."""
        b, _, y = self.block(start, n)
        kinds = self.messy_kinds(n)
        rows = zip(
            self.dicts(b),
            kinds,
            b.acct.tolist(),
            b.time.tolist(),
            y.tolist(),
            b.drifted.tolist(),
            strict=True,
        )
        out: list[Record] = []
        for i, (ev, kind, acct, t, label, drifted) in enumerate(rows, start):
            value = _dumps(ev) if kind is None else corrupt(ev, kind, self.messy)
            out.append(
                Record(
                    "events",
                    self.keys[acct],
                    value,
                    i,
                    t,
                    kind,
                    expected_valid(kind),
                    label,
                    drifted,
                )
            )
        return out


_SOURCES = (
    ("manual_review",) * 8 + ("customer_report",) * 2,  # for label 0, then 1
    ("chargeback",) * 6 + ("customer_report",) * 3 + ("manual_review",),
)


def _feedback(
    fid: str, event_id: str, label: int, source: str, t: int, index: int, drifted: bool
) -> Record:
    value = _dumps(
        {
            "feedback_id": fid,
            "event_id": event_id,
            "label": label,
            "label_source": source,
            "label_time": t,
        }
    )
    return Record("feedback", event_id.encode(), value, index, t, None, True, None, drifted)


def _schedule(
    heap: list[tuple[int, int, Record]],
    seq: Iterator[int],
    rec: Record,
    spec: FeedbackSpec,
    u: list[float],
    seed: int,
) -> None:
    """Push the feedback that valid event ``rec`` will get; ``u``: 8 uniforms for it."""
    truth, i = int(rec.label or 0), rec.index
    if u[0] >= (spec.fraud_fraction_labelled if truth else spec.fraction_labelled):
        return
    mean_ms = spec.delay_mean_s * 1000.0
    t = rec.event_time_ms + 1 + int(-mean_ms * math.log1p(-u[1]))  # exponential delay
    corrected = u[2] < spec.correction_fraction
    first = 1 - truth if corrected else truth
    event_id = f"ev-{seed}-{i}"
    fb = _feedback(
        f"fb-{seed}-{i}-0", event_id, first, _SOURCES[first][int(u[3] * 10)], t, i, rec.drifted
    )
    heapq.heappush(heap, (t, next(seq), fb))
    if u[4] < spec.duplicate_fraction:
        heapq.heappush(heap, (t, next(seq), fb))
    if corrected:
        t2 = t + 1 + int(-mean_ms * math.log1p(-u[5]))
        fix = _feedback(f"fb-{seed}-{i}-1", event_id, truth, "manual_review", t2, i, rec.drifted)
        heapq.heappush(heap, (t2, next(seq), fix))
    if u[6] < spec.unknown_fraction:
        ghost = _feedback(
            f"fb-{seed}-u{i}", f"ev-{seed}-u{i}", int(u[7] < 0.5), "manual_review", t, -1, False
        )
        heapq.heappush(heap, (t, next(seq), ghost))


def generate(config: GeneratorConfig) -> Iterator[Record]:
    """Stream ``config.count`` event records, interleaved with due feedback in time order.

    Memory is O(accounts + pending feedback).

    >>> fb = FeedbackSpec(fraction_labelled=1.0, delay_mean_s=0.01)
    >>> recs = list(generate(GeneratorConfig(seed=2, count=20, accounts=10, feedback=fb)))
    >>> sum(r.topic == "events" for r in recs), sum(r.topic == "feedback" for r in recs) >= 20
    (20, True)
    """
    eng, spec = _Engine(config), config.feedback
    heap: list[tuple[int, int, Record]] = []
    seq = itertools.count()
    for start in range(0, config.count, _BLOCK):
        n = min(_BLOCK, config.count - start)
        records = eng.records(start, n)
        draws = eng.fb.random((n, 8)).tolist() if spec is not None else []
        for j, rec in enumerate(records):
            while heap and heap[0][0] <= rec.event_time_ms:
                yield heapq.heappop(heap)[2]
            yield rec
            if spec is not None and rec.valid:
                _schedule(heap, seq, rec, spec, draws[j], config.seed)
    while heap and spec is not None and spec.flush:
        yield heapq.heappop(heap)[2]


def generate_events_clean(config: GeneratorConfig) -> CleanEvents:
    """The events of ``generate(config)`` as clean dicts (drift applied; messy and feedback off).

    >>> clean = generate_events_clean(GeneratorConfig(seed=3, count=5, accounts=20))
    >>> len(clean.events), clean.labels.shape, float(clean.probabilities.max()) < 1.0
    (5, (5,), True)
    """
    eng = _Engine(config)
    events: list[dict[str, Any]] = []
    labels, probs, drifted = [], [], []
    for start in range(0, config.count, _BLOCK):
        b, p, y = eng.block(start, min(_BLOCK, config.count - start))
        events.extend(eng.dicts(b))
        labels.append(y)
        probs.append(p)
        drifted.append(b.drifted)
    if not events:
        return CleanEvents([], np.zeros(0, np.int8), np.zeros(0), np.zeros(0, bool))
    return CleanEvents(
        events, np.concatenate(labels), np.concatenate(probs), np.concatenate(drifted)
    )
