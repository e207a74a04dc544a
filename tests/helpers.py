"""Test helpers shared by the tests, most of them by the real-broker ones."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Any

import orjson

from streams.config import Settings
from streams.contract.records import Headers, InRecord, header
from streams.dev.local import child_env, fresh_settings, wait_until

__all__ = [
    "ERROR_HEADERS",
    "FULL_EVENT",
    "KCAT_HEADERS",
    "check_dead_letter",
    "child_env",
    "free_port",
    "isolated_settings",
    "readyz",
    "wait_for",
]

wait_for = wait_until  # one implementation for the tests and the benchmarks (streams/dev/local.py)


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


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now (for a child's metrics port or a broker to come)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def readyz(port: int) -> dict[str, bool]:
    """A processor's readiness checks on ``port`` ({} while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return dict(orjson.loads(r.read()))
    except urllib.error.HTTPError as exc:  # 503: not ready, the checks in the body
        return dict(orjson.loads(exc.read()))
    except OSError:
        return {}
