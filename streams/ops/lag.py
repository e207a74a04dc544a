"""Consumer lag: high watermark minus committed offset, per topic and partition.

The arithmetic is pure (:func:`partition_lag`); :class:`LagCollector` is a Prometheus
collector that asks Kafka on every scrape, for the partitions a callable names (a
processor's current assignment, so instances of one group never double count; or
every partition, for ``streamscore lag``).

A partition with no committed offset yet counts everything from its low watermark
(the group starts at the earliest offset), so lag is right before the first commit
and after a rebalance hands a partition to a new member.

>>> partition_lag(low=10, high=50, committed=-1001)   # nothing committed yet
40
>>> partition_lag(low=10, high=50, committed=45)
5
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.config import Settings
from streams.kafka import group_offsets

log = logging.getLogger(__name__)


def partition_lag(low: int, high: int, committed: int) -> int:
    """Records the group still has to consume in one partition."""
    start = committed if committed >= 0 else low
    return max(high - max(start, low), 0)


@dataclass(frozen=True)
class PartitionLag:
    """Lag of one partition for one group."""

    group: str
    topic: str
    partition: int
    committed: int
    high: int
    lag: int


def group_lag(
    settings: Settings, group: str, topics: Iterable[str], partitions: set[tuple[str, int]] | None
) -> list[PartitionLag]:
    """Lag of ``group`` on ``topics`` (only ``partitions`` if given)."""
    rows = []
    for topic, partition, low, high, committed in group_offsets(settings, group, list(topics)):
        if partitions is not None and (topic, partition) not in partitions:
            continue
        lag = partition_lag(low, high, committed)
        rows.append(PartitionLag(group, topic, partition, committed, high, lag))
    return rows


class LagCollector(Collector):
    """``streamscore_consumer_lag{group,topic,partition}``, read from Kafka at scrape time."""

    def __init__(
        self,
        settings: Settings,
        group: str,
        topics: list[str],
        partitions: Callable[[], set[tuple[str, int]] | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.group = group
        self.topics = topics
        self.partitions = partitions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge family; empty (and a warning) when the broker cannot be asked."""
        family = GaugeMetricFamily(
            "streamscore_consumer_lag",
            "High watermark minus committed offset",
            labels=["group", "topic", "partition"],
        )
        try:
            rows = group_lag(self.settings, self.group, self.topics, self.partitions())
        except Exception:  # a scrape must not crash the process; the gap shows in Prometheus
            log.warning("consumer lag unavailable", exc_info=True)
            rows = []
        for r in rows:
            family.add_metric([r.group, r.topic, str(r.partition)], r.lag)
        yield family


def render_table(rows: list[PartitionLag]) -> str:
    """``streamscore lag``'s table."""
    lines = [f"{'group':<28} {'topic':<24} {'part':>4} {'committed':>10} {'high':>10} {'lag':>8}"]
    for r in rows:
        committed = str(r.committed) if r.committed >= 0 else "-"
        lines.append(
            f"{r.group:<28} {r.topic:<24} {r.partition:>4} {committed:>10} {r.high:>10} {r.lag:>8}"
        )
    lines.append(f"total lag: {sum(r.lag for r in rows)}")
    return "\n".join(lines)
