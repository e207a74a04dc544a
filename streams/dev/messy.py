"""Messy input: corrupt a clean event into the bytes a bad producer would send.

Every kind is named in :data:`MESSY_KINDS`. The first three keep the event valid
under the contract (``schemas/event.schema.json``); the others make it invalid,
and the last three are not even parseable JSON.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> event = {"event_id": "e1", "amount": 12.5, "card_present": True}
>>> corrupt(event, "empty_payload", rng), corrupt(event, "unknown_category", rng)[:1]
(b'', b'{')
>>> expected_valid("unknown_category"), expected_valid("not_utf8")
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from streams.contract.events import FIELDS, MAX_AMOUNT, OPTIONAL, REQUIRED

MESSY_KINDS: tuple[str, ...] = (
    "missing_optional",
    "null_optional",
    "unknown_category",
    "missing_required",
    "null_required",
    "wrong_type",
    "out_of_range",
    "malformed_json",
    "not_utf8",
    "empty_payload",
)
VALID_KINDS: frozenset[str] = frozenset({"missing_optional", "null_optional", "unknown_category"})
"""Kinds whose payload still passes contract validation."""

# Levels that are in no field's contract levels (scored as "unseen", not rejected).
UNKNOWN_LEVELS: dict[str, tuple[str, ...]] = {
    "currency": ("XXX", "BTC"),
    "channel": ("kiosk", "crypto_atm"),
    "merchant_category": ("crypto_atm", "adult_content"),
    "country": ("XX", "ZZ"),
}
_REQUIRED = tuple(name for name in FIELDS if name in REQUIRED)  # wire order, deterministic

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class MessySpec:
    """Which share of events is corrupted, and how.

    ``fraction`` of the events get one kind from ``kinds``; kinds share equally
    unless ``weights`` (same length as ``kinds``) is given.

    >>> MessySpec(0.1, kinds=("empty_payload", "not_utf8"), weights=(3, 1)).probabilities()
    array([0.75, 0.25])
    """

    fraction: float = 0.05
    kinds: tuple[str, ...] = MESSY_KINDS
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
        unknown = set(self.kinds) - set(MESSY_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"kinds must be a non-empty subset of MESSY_KINDS, got {self.kinds}")
        if self.weights is not None and (
            len(self.weights) != len(self.kinds) or min(self.weights) < 0 or sum(self.weights) <= 0
        ):
            raise ValueError("weights must be non-negative, one per kind, with a positive sum")

    def probabilities(self) -> npt.NDArray[np.float64]:
        """The share of each kind among corrupted events (sums to 1)."""
        w = np.ones(len(self.kinds)) if self.weights is None else np.asarray(self.weights, float)
        return np.asarray(w / w.sum(), dtype=np.float64)


def expected_valid(kind: str | None) -> bool:
    """Whether an event corrupted with ``kind`` (None: clean) still passes the contract."""
    return kind is None or kind in VALID_KINDS


def _choice(rng: np.random.Generator, options: tuple[Any, ...]) -> Any:
    return options[int(rng.integers(len(options)))]


def _missing_optional(ev: Event, rng: np.random.Generator) -> bytes:
    present = [name for name in OPTIONAL if name in ev]
    k = min(len(present), int(rng.integers(1, 4)))
    for i in sorted(rng.choice(len(present), size=k, replace=False).tolist()):
        del ev[present[i]]
    return orjson.dumps(ev)


def _null_optional(ev: Event, rng: np.random.Generator) -> bytes:
    ev[_choice(rng, OPTIONAL)] = None
    return orjson.dumps(ev)


def _unknown_category(ev: Event, rng: np.random.Generator) -> bytes:
    name = _choice(rng, tuple(UNKNOWN_LEVELS))
    ev[name] = _choice(rng, UNKNOWN_LEVELS[name])
    return orjson.dumps(ev)


def _missing_required(ev: Event, rng: np.random.Generator) -> bytes:
    ev.pop(_choice(rng, _REQUIRED), None)
    return orjson.dumps(ev)


def _null_required(ev: Event, rng: np.random.Generator) -> bytes:
    ev[_choice(rng, _REQUIRED)] = None
    return orjson.dumps(ev)


def _wrong_type(ev: Event, rng: np.random.Generator) -> bytes:
    variant = int(rng.integers(5))
    if variant == 0:
        ev["amount"] = f"{float(ev['amount']):.2f}"  # number as a string
    elif variant == 1:
        ev["event_time"] = f"{int(ev['event_time'])}.0"  # epoch ms as a float string
    elif variant == 2:
        ev["card_present"] = "yes"
    elif variant == 3:
        ev["account_age_days"] = str(ev.get("account_age_days") or 0)
    else:
        ev["txn_count_1h"] = 2.5  # a fraction where an integer is required
    return orjson.dumps(ev)


def _out_of_range(ev: Event, rng: np.random.Generator) -> bytes:
    variant = int(rng.integers(3))
    if variant == 0:
        ev["amount"] = -round(float(ev["amount"]) + 0.01, 2)
    elif variant == 1:
        ev["amount"] = round(MAX_AMOUNT * (1.0 + float(rng.random())) + 0.01, 2)
    else:
        ev["account_age_days"] = -int(rng.integers(1, 400))
    return orjson.dumps(ev)


def _malformed_json(ev: Event, rng: np.random.Generator) -> bytes:
    data = orjson.dumps(ev)
    variant = int(rng.integers(4))
    if variant == 0:
        return data[: int(rng.integers(1, len(data)))]  # truncated
    if variant == 1:
        return data.replace(b',"', b' "', 1)  # a missing comma
    if variant == 2:
        return data + b"}"  # trailing garbage
    return data.replace(b'":', b'"=', 1)  # a broken key separator


def _not_utf8(ev: Event, rng: np.random.Generator) -> bytes:
    data = orjson.dumps(ev)
    if rng.random() < 0.5:  # latin-1 text where UTF-8 is required
        return data[:-1] + ',"merchant_name":"Café Müller"}'.encode("latin-1")
    return data.replace(b'"event_id":"', b'"event_id":"\xff', 1)  # a stray 0xff in a string


_CORRUPTORS: dict[str, Callable[[Event, np.random.Generator], bytes]] = {
    "missing_optional": _missing_optional,
    "null_optional": _null_optional,
    "unknown_category": _unknown_category,
    "missing_required": _missing_required,
    "null_required": _null_required,
    "wrong_type": _wrong_type,
    "out_of_range": _out_of_range,
    "malformed_json": _malformed_json,
    "not_utf8": _not_utf8,
    "empty_payload": lambda _ev, _rng: b"",
}


def corrupt(event: Event, kind: str, rng: np.random.Generator) -> bytes:
    """The wire bytes of ``event`` corrupted with ``kind`` (``event`` itself is not changed).

    ``event`` must be a clean event holding every required field.
    """
    return _CORRUPTORS[kind](dict(event), rng)
