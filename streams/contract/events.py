"""The card-payment event contract, as data.

``schemas/event.schema.json`` is the wire contract; this module is the same
contract in the form code needs (field kinds, ranges, known category levels).
``tests/test_schemas.py`` checks the two agree.

An event is a JSON object. Required fields must be present, non-null and of the
right type; optional fields may be absent or null (both become a missing value
for the model). Unknown extra fields are allowed and ignored.

>>> FIELDS["amount"].required, FIELDS["amount"].kind
(True, 'number')
>>> sorted(REQUIRED)[:3]
['account_id', 'amount', 'channel']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

SCHEMA_VERSION = 1

Kind = Literal["string", "integer", "number", "boolean", "category"]


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the event contract."""

    name: str
    kind: Kind
    required: bool
    minimum: float | None = None
    maximum: float | None = None
    levels: tuple[str, ...] = ()  # known levels of a category; others are "unseen", not invalid
    max_length: int | None = None


CURRENCIES = ("EUR", "USD", "GBP", "CHF", "PLN", "SEK", "JPY")
CHANNELS = ("pos", "ecom", "atm", "moto")
MERCHANT_CATEGORIES = (
    "grocery",
    "restaurants",
    "fuel",
    "electronics",
    "travel",
    "online_services",
    "jewelry",
    "gaming",
    "gambling",
    "pharmacy",
    "apparel",
    "money_transfer",
)
RISKY_MERCHANT_CATEGORIES = ("electronics", "jewelry", "gaming", "gambling", "money_transfer")
"""Where fraud is likelier: the fallback rules and the generator's ground truth use it."""
REMOTE_CHANNELS = ("ecom", "moto")
"""Card-not-present channels, likewise."""
COUNTRIES = ("DE", "FR", "GB", "NL", "ES", "IT", "PL", "SE", "CH", "US", "BR", "NG", "RU", "CN")

MAX_AMOUNT = 1_000_000.0
MAX_ACCOUNT_AGE_DAYS = 36_500
MAX_DISTANCE_KM = 20_040.0  # half the Earth's circumference
MIN_EVENT_TIME_MS = 946_684_800_000  # 2000-01-01
MAX_EVENT_TIME_MS = 4_102_444_800_000  # 2100-01-01

_FIELDS = (
    Field("event_id", "string", True, max_length=64),
    Field("event_time", "integer", True, MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS),
    Field("account_id", "string", True, max_length=64),
    Field("amount", "number", True, 0.0, MAX_AMOUNT),
    Field("currency", "category", True, levels=CURRENCIES),
    Field("channel", "category", True, levels=CHANNELS),
    Field("merchant_category", "category", False, levels=MERCHANT_CATEGORIES),
    Field("country", "category", False, levels=COUNTRIES),
    Field("card_present", "boolean", False),
    Field("is_new_device", "boolean", False),
    Field("is_foreign_ip", "boolean", False),
    Field("account_age_days", "integer", False, 0, MAX_ACCOUNT_AGE_DAYS),
    Field("txn_count_1h", "integer", False, 0, 10_000),
    Field("txn_count_24h", "integer", False, 0, 100_000),
    Field("avg_amount_30d", "number", False, 0.0, MAX_AMOUNT),
    Field("distance_from_home_km", "number", False, 0.0, MAX_DISTANCE_KM),
)

FIELDS: dict[str, Field] = {f.name: f for f in _FIELDS}
"""Every field of the contract by name, in wire order."""

ROW_FIELDS: tuple[str, ...] = tuple(FIELDS)
"""The layout of an event *row* (the scorer's form of a validated event): its field
values as a tuple in this order, None where missing."""
ROW_INDEX: dict[str, int] = {name: i for i, name in enumerate(ROW_FIELDS)}


def row_of(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """The row of a validated event dict.

    >>> row_of({"event_id": "e1"})[:2]
    ('e1', None)
    """
    return tuple(event.get(name) for name in ROW_FIELDS)


REQUIRED: frozenset[str] = frozenset(f.name for f in _FIELDS if f.required)
OPTIONAL: tuple[str, ...] = tuple(f.name for f in _FIELDS if not f.required)

FEEDBACK_LABEL_SOURCES = ("chargeback", "manual_review", "customer_report")
