"""Test helpers shared by the real-broker tests."""

from __future__ import annotations

from typing import Any

from bench.harness import child_env, fresh_settings, wait_until
from streams.config import Settings

__all__ = ["FULL_EVENT", "child_env", "isolated_settings", "wait_for"]

wait_for = wait_until  # one implementation for the tests and the benchmarks (bench/harness.py)


FULL_EVENT: dict[str, Any] = {
    "event_id": "ev-1-42",
    "event_time": 1_767_225_600_123,
    "account_id": "acct-000007",
    "amount": 12.5,
    "currency": "EUR",
    "channel": "pos",
    "merchant_category": "fuel",
    "country": "DE",
    "card_present": True,
    "is_new_device": False,
    "is_foreign_ip": False,
    "account_age_days": 400,
    "txn_count_1h": 1,
    "txn_count_24h": 3,
    "avg_amount_30d": 20.0,
    "distance_from_home_km": 4.2,
}
"""A valid event with every contract field, in wire order (copy before changing it)."""


def isolated_settings(bootstrap: str, **overrides: object) -> Settings:
    """Settings whose topics, groups and state no other test uses, every topic created."""
    return fresh_settings(bootstrap, "t", **overrides)
