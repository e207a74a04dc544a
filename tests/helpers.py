"""Test helpers shared by the tests, most of them by the real-broker ones."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException

from streams.config import Settings
from streams.contract.records import Headers, InRecord, header
from streams.dev.local import child_env, free_port, fresh_settings, wait_until
from streams.kafka import end_total

__all__ = [
    "ERROR_HEADERS",
    "FULL_EVENT",
    "KCAT_HEADERS",
    "NOT_LED",
    "check_dead_letter",
    "child_env",
    "end_total_when_led",
    "free_port",
    "isolated_settings",
    "readyz",
    "wait_for",
]

wait_for = wait_until  # one implementation for the tests and the benchmarks (streams/dev/local.py)

NOT_LED = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}
"""Errors of a partition that has no leader yet: a topic just made, a broker restarting."""


def end_total_when_led(settings: Settings, topic: str, deadline_s: float = 30.0) -> int:
    """:func:`end_total` of ``topic``, waiting up to ``deadline_s`` for leaders."""
    got: list[int] = []

    def answered() -> bool:
        try:
            got.append(end_total(settings, topic))
        except KafkaException as exc:
            if exc.args[0].code() not in NOT_LED:
                raise
            return False
        return True

    wait_for(answered, deadline_s, f"leaders for every partition of {topic}")
    return got[-1]


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


KCAT_HEADERS: list[tuple[str, bytes | None]] = [
    ("trace-id", b"4bf92f3577b34da6"),
    ("hop", b"a"),
    ("hop", b"b"),
    ("bin", b"\x00\xff\xfe"),
    ("empty", None),
]
"""Headers as ``kcat -H`` sends them (several, a name repeated, a binary value), and one
with a null value."""

ERROR_HEADERS = [
    "__connect.errors.topic",
    "__connect.errors.partition",
    "__connect.errors.offset",
    "__connect.errors.connector.name",
    "__connect.errors.stage",
    "__connect.errors.class.name",
    "__connect.errors.exception.class.name",
    "__connect.errors.exception.message",
    "__streamscore.errors.reason",
    "__streamscore.errors.field",
    "__streamscore.processor.version",
    "__streamscore.errors.time",
    "__streamscore.source.timestamp",
]
"""The headers a dead letter adds after the original ones, in order (the DLQ contract)."""


def isolated_settings(bootstrap: str, **overrides: object) -> Settings:
    """Settings whose topics, groups and state no other test uses, every topic created."""
    return fresh_settings(bootstrap, "t", **overrides)


def check_dead_letter(dead: InRecord, original: Headers, timestamp_ms: int, written: range) -> None:
    """``dead`` (read back from a DLQ) carries ``original``'s headers byte for byte and in
    order, then the error headers; its Kafka timestamp is the original's, and the time
    it was written (a header) is in ``written``."""
    headers = dead.headers or []
    assert headers[: len(original)] == original
    assert [k for k, _ in headers[len(original) :]] == ERROR_HEADERS
    assert dead.origin.timestamp_ms == timestamp_ms
    assert int(header(headers, "__streamscore.errors.time") or -1) in written


def readyz(port: int) -> dict[str, bool]:
    """A processor's readiness checks on ``port`` ({} while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return dict(orjson.loads(r.read()))
    except urllib.error.HTTPError as exc:  # 503: not ready, the checks in the body
        return dict(orjson.loads(exc.read()))
    except OSError:
        return {}
