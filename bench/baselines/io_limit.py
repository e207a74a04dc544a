"""The latency limit: the scorer's own loop and Kafka layer, with scoring replaced by a copy.

    STREAMSCORE_... .venv/bin/python -m bench.baselines.io_limit   # settings from the environment

Same :class:`~streams.scoring.scorer.Scorer` loop, same :func:`~streams.scoring.scorer.scorer_io`
(guarantee, batching, overlapped commits and transactions as the settings say), but
each event becomes ``{"event_timestamp": <its Kafka timestamp>}`` on the scores topic:
no parsing, validation, features, prediction or drift. What ``bench.latency``
measures for it is what Kafka and the delivery guarantee cost on this machine, the
floor under the scorer's latency. Every event is passed, valid or not.

>>> from streams.contract.records import InRecord, Origin
>>> out = Copy("scores").process([InRecord(Origin("events", 0, 3, 1700), b"k", b"{}")], 0)
>>> out.records[0].topic, out.records[0].value, out.scored
('scores', b'{"event_timestamp":1700}', 1)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.contract.records import InRecord, OutRecord
from streams.kafka.runtime import install_stop_signals
from streams.ops.metrics import ScorerMetrics
from streams.scoring.factory import scorer_io
from streams.scoring.pipeline import BatchResult, PipelineConfig, ScoringPipeline
from streams.scoring.scorer import Scorer


class Copy(ScoringPipeline):
    """A "pipeline" that only stamps each record with its event's Kafka timestamp."""

    def __init__(self, scores_topic: str) -> None:
        super().__init__(model=None, config=PipelineConfig(scores_topic=scores_topic))

    def process(self, batch: Sequence[InRecord], now_ms: int) -> BatchResult:
        """One ``scores`` record per input record, in order."""
        topic = self.config.scores_topic
        records = [
            OutRecord(topic, r.key, b'{"event_timestamp":%d}' % (r.origin.timestamp_ms or 0), None)
            for r in batch
        ]
        return BatchResult(records=records, scored=len(records))


def main() -> None:
    """Run the copy loop until SIGTERM, with the scorer's settings and guarantee."""
    # no model reloads: the scorer loop would swap the copy for a model-backed pipeline
    settings = Settings(model_reload_s=0)
    io = scorer_io(settings, exactly_once=settings.processing_guarantee == "exactly_once")
    scorer = Scorer(settings, Copy(settings.topic_scores), io, ScorerMetrics(CollectorRegistry()))
    stop = threading.Event()
    install_stop_signals(stop)
    scorer.run(stop)


if __name__ == "__main__":
    main()
