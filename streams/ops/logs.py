"""Structured JSON-lines logging, configured once at the entry point.

Every line has time, level, logger and message, plus whatever ``extra=`` context the
caller passes (processor, event_id, topic, partition, offset). Payloads and secrets
are never logged at INFO, and the settings' secrets (``configure(level, secrets)``) are
masked in any line that would hold one (an exception's text, a library's message).

>>> import logging
>>> configure("INFO")
>>> log = logging.getLogger("streams.dev.demo")
>>> log.info("started", extra={"processor": "demo"})  # doctest: +SKIP
{"time": "...", "level": "INFO", "logger": "streams.dev.demo", "message": "started", ...}
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from streams.config import Settings

MASK = "**********"

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def secret_values(settings: Settings) -> list[str]:
    """The secrets ``settings`` hold (passwords), for :func:`configure` to mask."""
    held = (settings.sasl_password, settings.ssl_key_password)
    return [s.get_secret_value() for s in held if s is not None and s.get_secret_value()]


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line, ``secrets`` masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # as they appear inside a JSON string (quotes and backslashes escaped)
        self._secrets = sorted({orjson.dumps(s).decode()[1:-1] for s in secrets if s}, key=len)

    def format(self, record: logging.LogRecord) -> str:
        text = self._format(record)
        for secret in reversed(self._secrets):  # longest first: no partial masks
            text = text.replace(secret, MASK)
        return text

    def _format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode("utf-8")


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    """Send JSON lines to stderr at ``level``, ``secrets`` masked (:func:`secret_values`);
    quiet the chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
