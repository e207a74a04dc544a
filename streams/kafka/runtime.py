"""Start-up plumbing shared by the commands: resolve the broker, make sure topics exist,
stop on SIGTERM/SIGINT.

>>> with connect(Settings()) as rt:        # doctest: +SKIP
...     rt.settings.bootstrap_servers      # the embedded cluster's real address
'127.0.0.1:40123'
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from streams.config import Settings
from streams.errors import AuthError, BrokerError, ConfigError
from streams.kafka import ensure_topics, topic_partitions
from streams.kafka.embedded import EmbeddedBroker
from streams.kafka.topics import partition_mismatches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Resolved settings, and the embedded broker when one was started."""

    settings: Settings
    embedded: EmbeddedBroker | None

    @property
    def on_embedded(self) -> bool:
        """True when running on librdkafka's mock cluster (at-least-once only)."""
        return self.embedded is not None


@contextmanager
def connect(settings: Settings, create_topics: bool = True) -> Iterator[Runtime]:
    """Yield a :class:`Runtime`; on ``embedded`` the mock cluster lives for the block.

    With ``create_topics`` every topic of :meth:`Settings.all_topics` is created if missing;
    without it, a missing topic is a start-up error with a clear message.
    """
    if not settings.is_embedded:
        await_broker(settings)
        if create_topics:
            ensure_topics(settings, settings.all_topics())
        yield Runtime(settings, None)
        return
    broker = EmbeddedBroker()
    try:
        # its topics end with the process: no velocity checkpoint to keep against them
        local = {
            "bootstrap_servers": broker.start(),
            "velocity_store": "none",
            "consumer_fetch_wait_ms": _EMBEDDED_FETCH_WAIT_MS,
        }
        resolved = settings.model_copy(update=local)
        broker.create_topics(settings.all_topics())
        yield Runtime(resolved, broker)
    finally:
        broker.stop()


# the mock cluster holds an empty fetch for all of fetch.wait.max.ms, records or not
_EMBEDDED_FETCH_WAIT_MS = 10
_PROBE_TIMEOUT_S = 5.0  # one metadata request to a broker that does not answer
_RETRY_S = 0.5


def await_broker(settings: Settings) -> None:
    """Return once the broker answers; BrokerError (the address, the client's error) when
    it did not within ``broker_wait_s`` (0: one try of a few seconds)."""
    deadline = time.monotonic() + settings.broker_wait_s
    while True:
        left = deadline - time.monotonic()
        try:
            topic_partitions(settings, settings.topic_events, _PROBE_TIMEOUT_S)
            return
        except AuthError:
            raise  # credentials or ACLs: waiting cannot help
        except BrokerError as exc:
            if left <= 0:
                waited = f" (waited {settings.broker_wait_s:g} s: broker_wait_s)"
                raise BrokerError(f"{exc}{waited if settings.broker_wait_s else ''}") from exc
            log.info("waiting for the broker", extra={"seconds_left": round(left, 1)})
            time.sleep(min(_RETRY_S, left))  # a refused connection fails at once


def require_topics(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Partition count per topic; BrokerError naming every missing topic and the command
    that creates it; ConfigError naming co-partitioned topics whose counts differ (as
    :func:`~streams.kafka.topics.partition_mismatches`) and what to change."""
    counts = {t: topic_partitions(settings, t) for t in topics}
    missing = [t for t, n in counts.items() if n == 0]
    if missing:
        raise BrokerError(
            f"topics missing on {settings.bootstrap_servers}: {', '.join(missing)}. Create "
            f"them: `streamscore topics create --bootstrap-servers {settings.bootstrap_servers}`"
            " (with the same settings as this command), or start the scorer with "
            "`--create-topics`"
        )
    mismatches = partition_mismatches(settings, counts)
    if mismatches:
        raise ConfigError("; ".join(mismatches))
    return counts


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: finish the batch in hand, commit, exit 0."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on signal", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
