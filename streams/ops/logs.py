"""Structured JSON-lines logging, configured once at the entry point.

Every line has time, level, logger and message, plus whatever ``extra=`` context the
caller passes (processor, event_id, topic, partition, offset). Payloads and secrets
are never logged at INFO.

>>> import logging
>>> configure("INFO")
>>> log = logging.getLogger("streams.dev.demo")
>>> log.info("started", extra={"processor": "demo"})  # doctest: +SKIP
{"time": "...", "level": "INFO", "logger": "streams.dev.demo", "message": "started", ...}
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
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


def configure(level: str) -> None:
    """Send JSON lines to stderr at ``level``; quiet the chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
