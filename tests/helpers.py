"""Test helpers shared by the real-broker tests."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.config import Settings, env_vars
from streams.kafka import ensure_topics


def wait_for(cond: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``cond`` until it holds; fail the test naming ``what`` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling interval of a condition with a deadline


def child_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment for a ``python -m streams ...`` child process with ``settings``."""
    overrides = env_vars(settings.model_copy(update=extra)) if extra else env_vars(settings)
    return {**os.environ, **overrides}


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

_ids = itertools.count()


def isolated_settings(bootstrap: str, **overrides: object) -> Settings:
    """Settings whose topics and groups no other test uses, with every topic created."""
    p = f"t{os.getpid()}-{next(_ids)}"
    names = {
        name: f"{p}.{default}"
        for name, default in Settings().model_dump().items()
        if name.startswith("topic_") and name != "topic_partitions"
    }
    groups = {"scorer_group_id": f"{p}-scorer", "joiner_group_id": f"{p}-joiner"}
    settings = Settings(
        bootstrap_servers=bootstrap,
        model_dir=Path(__file__).resolve().parent.parent / "models",
        metrics_port=0,
        **{**names, **groups, **overrides},  # type: ignore[arg-type]
    )
    ensure_topics(settings, settings.all_topics())
    return settings
