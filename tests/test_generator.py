"""The synthetic event generator: determinism, contract, realism, drift, messy input, feedback."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest
from jsonschema import Draft202012Validator

from streams.contract.events import CHANNELS, COUNTRIES, CURRENCIES, MERCHANT_CATEGORIES, OPTIONAL
from streams.dev.generator import (
    MESSY_KINDS,
    DriftSpec,
    FeedbackSpec,
    GeneratorConfig,
    MessySpec,
    Record,
    fraud_probability,
    generate,
    generate_events_clean,
)
from streams.model.velocity import AccountFeatures, VelocityConfig

SCHEMAS = Path(__file__).parent.parent / "schemas"
EVENT = Draft202012Validator(orjson.loads((SCHEMAS / "event.schema.json").read_bytes()))
FEEDBACK = Draft202012Validator(orjson.loads((SCHEMAS / "feedback.schema.json").read_bytes()))
UNPARSEABLE = {"malformed_json", "not_utf8", "empty_payload"}
F64 = npt.NDArray[np.float64]

FULL = GeneratorConfig(
    seed=11,
    count=4_000,
    messy=MessySpec(0.2),
    drift=(
        DriftSpec(1_500, "gradual", width=1_000, amount_scale=2.0, concept=True),
        DriftSpec(3_000, missing_features=("country",)),
    ),
    feedback=FeedbackSpec(duplicate_fraction=0.1, correction_fraction=0.1, unknown_fraction=0.1),
)


def rank_auc(y: npt.NDArray[Any], score: F64) -> float:
    """ROC AUC by the Mann-Whitney rank formula, ties averaged."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    _, first, counts = np.unique(score[order], return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def within(observed: int, n: int, p: float, sds: float = 4.0) -> bool:
    """Binomial tolerance: ``observed`` out of ``n`` is within ``sds`` standard deviations."""
    return abs(observed - n * p) <= sds * math.sqrt(n * p * (1 - p)) + 1


@cache
def stream(config: GeneratorConfig) -> tuple[Record, ...]:
    return tuple(generate(config))


@cache
def clean(config: GeneratorConfig) -> tuple[list[dict[str, Any]], npt.NDArray[np.int8], F64]:
    ce = generate_events_clean(config)
    return ce.events, ce.labels, ce.probabilities


# --- determinism and basic shape ----------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs() -> None:
    a, b = stream(FULL), tuple(generate(FULL))
    assert [(r.key, r.value) for r in a] == [(r.key, r.value) for r in b]
    assert a == b
    other = tuple(generate(replace(FULL, seed=12)))
    assert [r.value for r in other[:100]] != [r.value for r in a[:100]]
    kinds = {r.messy_kind for r in a}
    assert set(MESSY_KINDS) <= kinds and any(r.topic == "feedback" for r in a)


def test_event_times_ids_keys_and_labels() -> None:
    recs = [r for r in stream(FULL) if r.topic == "events"]
    assert [r.index for r in recs] == list(range(FULL.count))
    times = np.array([r.event_time_ms for r in recs])
    assert times[0] >= FULL.start_ms and np.all(np.diff(times) >= 0)
    assert all(r.label in (0, 1) for r in recs)
    events, _, _ = clean(GeneratorConfig(count=20_000))
    assert len({e["event_id"] for e in events}) == len(events)
    assert np.all(np.diff([e["event_time"] for e in events]) >= 0)
    for r in recs:
        assert r.key.startswith(b"acct-")
        if r.messy_kind is None:
            assert orjson.loads(r.value)["account_id"].encode() == r.key


def test_clock_runs_at_the_simulated_rate() -> None:
    events, _, _ = clean(GeneratorConfig(count=20_000, events_per_second=50.0))
    span_s = (events[-1]["event_time"] - events[0]["event_time"]) / 1000
    assert 20_000 / span_s == pytest.approx(50.0, rel=0.05)


def test_clean_events_are_valid_in_range_and_consistent() -> None:
    events, _, _ = clean(GeneratorConfig(count=20_000))
    for e in events[:3_000]:
        assert EVENT.is_valid(e), e
    assert {e["channel"] for e in events} == set(CHANNELS)
    assert {e["currency"] for e in events} <= set(CURRENCIES)
    assert {e["merchant_category"] for e in events} == set(MERCHANT_CATEGORIES)
    assert {e["country"] for e in events} <= set(COUNTRIES)
    assert all(e["card_present"] == (e["channel"] in ("pos", "atm")) for e in events)
    assert all(0 < e["amount"] <= 1e6 and e["distance_from_home_km"] >= 0 for e in events)
    assert all(e["txn_count_24h"] >= e["txn_count_1h"] >= 0 for e in events)
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_account[e["account_id"]].append(e)
    busy = [evs for evs in by_account.values() if len(evs) >= 20]
    assert busy
    for evs in busy:  # a stable home country: the most common country dominates
        top = Counter(e["country"] for e in evs).most_common(1)[0][1]
        assert top / len(evs) > 0.6
        assert len({round(e["avg_amount_30d"] / evs[0]["avg_amount_30d"], 0) for e in evs}) <= 2


def test_account_activity_is_skewed() -> None:
    events, _, _ = clean(GeneratorConfig(count=20_000))
    counts = sorted(Counter(e["account_id"] for e in events).values(), reverse=True)
    assert sum(counts[:50]) / len(events) > 0.08  # 1% of 5,000 accounts; uniform would give 1%


# --- ground truth ---------------------------------------------------------------------------


def test_fraud_is_learnable_but_noisy() -> None:
    events, y, p = clean(GeneratorConfig(count=40_000))
    assert 0.02 <= y.mean() <= 0.04
    auc = rank_auc(y, p)
    assert 0.75 < auc < 0.98
    X = _design(events)
    w = _fit_logistic(X[:30_000], y[:30_000].astype(float))
    model_auc = rank_auc(y[30_000:], X[30_000:] @ w)
    assert 0.75 < model_auc < 0.98
    assert model_auc < rank_auc(y[30_000:], p[30_000:]) + 0.02


def _design(events: list[dict[str, Any]]) -> F64:
    risky = {"electronics", "jewelry", "gaming", "gambling", "money_transfer"}
    rows = [
        [
            1.0,
            math.log1p(e["amount"]) - math.log1p(e["avg_amount_30d"]),
            float(e["is_new_device"]),
            float(e["is_foreign_ip"]),
            float(not e["card_present"]),
            float(e["merchant_category"] in risky),
            min(e["txn_count_1h"], 10) / 10,
            math.log1p(e["distance_from_home_km"]) / 5,
            float(e["account_age_days"] < 365),
        ]
        for e in events
    ]
    return np.array(rows)


def _fit_logistic(X: F64, y: F64, steps: int = 300, lr: float = 0.5) -> F64:
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(X @ w)))
        w -= lr * X.T @ (p - y) / len(y)
    return w


def test_clean_helper_matches_the_stream() -> None:
    config = GeneratorConfig(seed=4, count=3_000, messy=MessySpec(0.3))
    recs = list(generate(config))
    ce = generate_events_clean(config)
    assert [r.label for r in recs] == ce.labels.tolist()
    pairs = [
        (orjson.loads(r.value), e)
        for r, e in zip(recs, ce.events, strict=True)
        if r.messy_kind is None
    ]
    assert len(pairs) > 1_500 and all(a == b for a, b in pairs)


def test_fraud_probability_of_a_dict_matches_generation() -> None:
    events, _, p = clean(GeneratorConfig(count=2_000))
    assert [fraud_probability(e) for e in events] == pytest.approx(p.tolist(), rel=1e-9)
    e = events[0]
    assert 0 < fraud_probability({k: e[k] for k in e if k not in OPTIONAL}) < 1


# --- messy input ----------------------------------------------------------------------------


def test_every_record_is_valid_exactly_when_it_says() -> None:
    for r in stream(FULL):
        if r.topic == "feedback":
            assert FEEDBACK.is_valid(orjson.loads(r.value)), r
        elif r.messy_kind in UNPARSEABLE:
            assert not r.valid
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(r.value)
        else:
            assert EVENT.is_valid(orjson.loads(r.value)) is r.valid, r


def test_messy_kind_shares_are_binomial() -> None:
    config = GeneratorConfig(seed=3, count=20_000, accounts=500, messy=MessySpec(0.1))
    kinds = Counter(r.messy_kind for r in generate(config))
    for kind in MESSY_KINDS:
        assert within(kinds[kind], 20_000, 0.1 / len(MESSY_KINDS)), (kind, kinds)
    assert within(20_000 - kinds[None], 20_000, 0.1)


def test_messy_input_leaves_the_clean_events_alone() -> None:
    plain = list(generate(GeneratorConfig(seed=11, count=4_000)))
    messy = [r for r in stream(FULL) if r.topic == "events"]
    no_drift = replace(FULL, drift=())
    messy_no_drift = [r for r in generate(no_drift) if r.topic == "events"]
    same = [
        (a.value, b.value)
        for a, b in zip(plain, messy_no_drift, strict=True)
        if b.messy_kind is None
    ]
    assert len(same) > 3_000 and all(a == b for a, b in same)
    assert [r.label for r in plain] == [r.label for r in messy_no_drift]
    assert sum(r.messy_kind is not None for r in messy) > 600


# --- drift ----------------------------------------------------------------------------------

BASE = GeneratorConfig(seed=5, count=20_000)
N = 10_000


def _drifted(*specs: DriftSpec) -> GeneratorConfig:
    return replace(BASE, drift=specs)


def test_abrupt_feature_drift_shifts_distributions_after_the_start_only() -> None:
    spec = DriftSpec(N, amount_scale=3.0, merchant_shift=0.5, ecom_shift=0.5)
    before, _, _ = clean(BASE)
    after, _, _ = clean(_drifted(spec))
    assert after[:N] == before[:N]
    log_amount = np.log([[e["amount"] for e in evs[N:]] for evs in (before, after)]).mean(axis=1)
    assert log_amount[1] - log_amount[0] == pytest.approx(math.log(3.0), abs=0.1)

    def share(evs: list[dict[str, Any]], field: str, levels: set[str]) -> float:
        return sum(e[field] in levels for e in evs) / len(evs)

    online = {"online_services", "electronics"}
    assert (
        share(after[N:], "merchant_category", online)
        > share(before[N:], "merchant_category", online) + 0.3
    )
    assert share(after[N:], "channel", {"ecom"}) > share(before[N:], "channel", {"ecom"}) + 0.25
    assert all(e["card_present"] == (e["channel"] in ("pos", "atm")) for e in after)
    drifted = generate_events_clean(_drifted(spec)).drifted
    assert not drifted[:N].any() and drifted[N:].all()


def test_gradual_drift_ramps_over_its_width() -> None:
    ce = generate_events_clean(_drifted(DriftSpec(5_000, "gradual", width=10_000)))
    d = ce.drifted
    assert not d[:5_000].any() and d[15_000:].all()
    shares = [d[5_000 + i * 2_500 : 5_000 + (i + 1) * 2_500].mean() for i in range(4)]
    assert shares == sorted(shares)
    assert shares == pytest.approx([0.125, 0.375, 0.625, 0.875], abs=0.05)


def test_missing_feature_drift_removes_the_field() -> None:
    events, _, _ = clean(_drifted(DriftSpec(N, missing_features=("country", "is_new_device"))))
    assert all("country" in e and "is_new_device" in e for e in events[:N])
    assert not any("country" in e or "is_new_device" in e for e in events[N:])
    assert all(EVENT.is_valid(e) for e in events[N : N + 500])
    with pytest.raises(ValueError):
        DriftSpec(N, missing_features=("amount",))  # required fields can not go missing


def test_concept_drift_changes_who_is_fraud() -> None:
    events, y, _ = clean(_drifted(DriftSpec(N, concept=True)))
    base_events, base_y, _ = clean(BASE)
    assert [e["amount"] for e in events] == [e["amount"] for e in base_events]  # features same

    def rate(evs: list[dict[str, Any]], labels: npt.NDArray[np.int8], lo: int, hi: int) -> float:
        mask = [
            e["card_present"] and e["merchant_category"] in ("fuel", "grocery") for e in evs[lo:hi]
        ]
        return float(labels[lo:hi][np.array(mask)].mean())

    after = rate(events, y, N, 2 * N)
    assert after > rate(events, y, 0, N) + 0.03 and after > 5 * rate(events, y, 0, N)
    assert after > rate(base_events, base_y, N, 2 * N) + 0.03
    assert rate(events, y, 0, N) == rate(base_events, base_y, 0, N)


# --- feedback -------------------------------------------------------------------------------

FB = GeneratorConfig(
    seed=9,
    count=20_000,
    messy=MessySpec(0.1),
    feedback=FeedbackSpec(
        fraction_labelled=0.3,
        fraud_fraction_labelled=0.9,
        delay_mean_s=30.0,
        duplicate_fraction=0.05,
        correction_fraction=0.05,
        unknown_fraction=0.03,
    ),
)


def _split(recs: tuple[Record, ...]) -> tuple[dict[int, Record], list[Record]]:
    events = {r.index: r for r in recs if r.topic == "events"}
    return events, [r for r in recs if r.topic == "feedback"]


def test_merged_stream_is_in_time_order_and_feedback_follows_its_event() -> None:
    recs = stream(FB)
    times = [r.event_time_ms for r in recs]
    assert times == sorted(times)
    position = {(r.topic, r.index): i for i, r in enumerate(recs) if r.topic == "events"}
    events, _ = _split(recs)
    for i, f in enumerate(recs):
        if f.topic == "feedback" and f.index >= 0:
            assert position[("events", f.index)] < i
            assert f.event_time_ms > events[f.index].event_time_ms
            assert events[f.index].valid
            assert f.key == orjson.loads(f.value)["event_id"].encode()
            assert f.label is None


def test_feedback_is_interleaved_with_bounded_backlog() -> None:
    recs = stream(FB)
    last_event = max(i for i, r in enumerate(recs) if r.topic == "events")
    assert sum(r.topic == "feedback" for r in recs[:last_event]) > 1_000
    seen: dict[int, int] = {}
    spans: list[tuple[int, int]] = []  # (position of the event, position of its feedback)
    for i, r in enumerate(recs):
        if r.topic == "events":
            seen[r.index] = i
        elif r.index >= 0:
            spans.append((seen[r.index], i))
    at = np.arange(len(recs))
    starts, ends = np.sort([a for a, _ in spans]), np.sort([b for _, b in spans])
    backlog = np.searchsorted(starts, at, "right") - np.searchsorted(ends, at, "right")
    expected = 50.0 * 30.0 * 0.33  # rate x mean delay x labelled share: what the heap holds
    assert expected / 3 < backlog.max() < 3 * expected


Labelled = dict[str, list[tuple[Record, dict[str, Any]]]]


def _feedback_by_event() -> tuple[dict[int, Record], Labelled, Labelled]:
    """Events by index, and (record, payload) feedback by event id: known ids, unknown ids."""
    events, feedback = _split(stream(FB))
    known: Labelled = defaultdict(list)
    unknown: Labelled = defaultdict(list)
    for f in feedback:
        payload = orjson.loads(f.value)
        (known if f.index >= 0 else unknown)[payload["event_id"]].append((f, payload))
    return events, known, unknown


def test_labelled_fractions_delays_and_unknown_ids() -> None:
    events, known, unknown = _feedback_by_event()
    labelled = {items[0][0].index for items in known.values()}
    legit = [r for r in events.values() if r.valid and r.label == 0]
    fraud = [r for r in events.values() if r.valid and r.label == 1]
    assert within(sum(r.index in labelled for r in legit), len(legit), 0.3)
    assert within(sum(r.index in labelled for r in fraud), len(fraud), 0.9)
    assert within(len(unknown), len(known), 0.03)
    produced = {e["event_id"] for e in generate_events_clean(FB).events}
    assert len(produced) == FB.count and not set(unknown) & produced
    assert set(known) <= produced
    delays = [
        f.event_time_ms - events[f.index].event_time_ms
        for items in known.values()
        for f, p in items
        if p["feedback_id"].endswith("-0")
    ]
    assert np.mean(delays) == pytest.approx(30_000, rel=0.1)  # delay_mean_s


def test_duplicates_are_copies_and_corrections_flip_to_the_truth() -> None:
    events, known, _ = _feedback_by_event()
    n_dup = n_fix = 0
    for items in known.values():
        truth = events[items[0][0].index].label
        for fid, n in Counter(p["feedback_id"] for _, p in items).items():
            assert len({f.value for f, p in items if p["feedback_id"] == fid}) == 1
            n_dup += n - 1
        distinct = sorted({(p["label_time"], p["feedback_id"], p["label"]) for _, p in items})
        assert len(distinct) <= 2
        if len(distinct) == 2:  # a correction: opposite label, later, new id, and it is the truth
            (t1, id1, l1), (t2, id2, l2) = distinct
            assert l2 == 1 - l1 and t2 > t1 and id1 != id2 and l2 == truth
            n_fix += 1
        else:
            assert distinct[0][2] == truth
    assert within(n_dup, len(known), 0.05) and within(n_fix, len(known), 0.05)


def test_flush_off_keeps_only_due_feedback_and_events_do_not_change() -> None:
    spec = FeedbackSpec(delay_mean_s=30.0, flush=False)
    config = GeneratorConfig(seed=9, count=5_000, feedback=spec)
    recs = list(generate(config))
    last = max(r.event_time_ms for r in recs if r.topic == "events")
    assert all(r.event_time_ms <= last for r in recs)
    flushed = list(
        generate(GeneratorConfig(seed=9, count=5_000, feedback=FeedbackSpec(delay_mean_s=30.0)))
    )
    assert len(flushed) > len(recs)
    assert flushed[: len(recs)] == recs
    without = [r.value for r in generate(GeneratorConfig(seed=9, count=5_000))]
    assert [r.value for r in recs if r.topic == "events"] == without


def _bursts(events: list[dict[str, Any]]) -> npt.NDArray[np.bool_]:
    """Events of a quiet account (under 20 payments in the stream) with at least 3 of
    its payments in the minute before: bursts, which quiet accounts do not make alone."""
    acc = AccountFeatures(VelocityConfig())
    fields = ("account_id", "event_time", "amount", "merchant_category", "country")
    minute = np.array([acc.observe(*(e.get(f) for f in fields))[0][0] for e in events])
    totals = Counter(e["account_id"] for e in events)
    quiet = np.array([totals[e["account_id"]] < 20 for e in events])
    return quiet & (np.nan_to_num(minute) >= 3)


def test_takeovers_make_bursts_and_fraud_follows_them() -> None:
    slow = GeneratorConfig(seed=3, count=30_000, events_per_second=2.0)  # as training's
    on = generate_events_clean(replace(slow, takeovers=0.005))
    off = generate_events_clean(slow)
    burst_on, burst_off = _bursts(on.events), _bursts(off.events)
    assert burst_on.sum() > 5 * max(burst_off.sum(), 1)  # bursts come from takeovers
    assert on.probabilities[burst_on].mean() > 3 * on.probabilities[~burst_on].mean()
    # without takeovers the truth ignores behaviour: each payment's own features decide
    for event, p in zip(off.events[:500], off.probabilities[:500], strict=True):
        assert math.isclose(fraud_probability(event), p, rel_tol=1e-9)
