"""The faust-streaming baseline: streamscore's work per event as a faust app.

One agent on the events topic (raw bytes in, raw bytes out). It batches with
``stream.take_events(batch_max_size, within=batch_max_wait_ms)``, as a faust user
scoring with a model would (one LightGBM call per batch, like streamscore; the events
come with their message, for the key and the source offset). Per event:
``streams.contract.validation.parse_event``; a
:class:`~streams.contract.validation.Problem` sends the
original bytes (original key) to the DLQ topic, a valid event goes into the batch's
feature matrix (``model.assembler.assemble``); after one ``model.predict`` per batch
each event's score record (the one streamscore writes, orjson) is sent to the scores
topic keyed by event id, with ``await topic.send()``.

Processing guarantee: at_least_once (streamscore and the Quix baseline run
exactly-once). faust's ``exactly_once`` runs against the real broker but does not make
these outputs transactional: faust picks a send's transactional producer by the output
partition as its *consumer's* metadata knows it, which has only the subscribed topics, so
sends to the scores and DLQ topics go through the plain producer (their offsets hold no
transaction markers) and only the source offsets are committed in transactions. That
costs a third of the throughput (about 1,300 against 2,000 events/s in a short run) and
buys no guarantee on the outputs, so the baseline runs faust's at_least_once. Offsets are
committed by faust's commit timer, every ``COMMIT_INTERVAL_S`` (faust's default is
2.8 s, which would pad the measured time).

The app runs on its own event loop in a thread of the benchmark process (as the scorer
does), with the model loaded before the clock starts; broker settings come from
:func:`streams.kafka.config.faust_config`, as for the project's joiner.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import faust
import orjson

from bench.baselines.common import check_outputs, decide, output_topics, score_record
from bench.harness import timed_until_committed
from streams.config import Settings
from streams.contract.validation import Problem, parse_event
from streams.kafka import ensure_topics
from streams.kafka.config import faust_config
from streams.model.artifact import Model, load_model

GROUP = "bench-faust"
COMMIT_INTERVAL_S = 0.2
GUARANTEE = "at_least_once"


def build_app(settings: Settings, model: Model, scores_topic: str, dlq_topic: str) -> faust.App:
    """The faust app (not started): one agent scoring the events topic."""
    app = faust.App(
        GROUP,
        processing_guarantee=GUARANTEE,
        broker_commit_interval=COMMIT_INTERVAL_S,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        **faust_config(settings),
    )
    events = app.topic(settings.topic_events, key_serializer="raw", value_serializer="raw")
    scores = app.topic(scores_topic, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(dlq_topic, key_serializer="raw", value_serializer="raw")
    max_bytes, max_depth = settings.max_payload_bytes, settings.max_depth
    review, decline = settings.review_threshold, settings.decline_threshold

    @app.agent(events)
    async def score(stream: faust.StreamT[bytes]) -> None:
        within = settings.batch_max_wait_ms / 1000
        async for batch in stream.take_events(settings.batch_max_size, within=within):
            valid: list[tuple[Any, dict[str, Any]]] = []
            for event in batch:
                parsed = parse_event(event.value, max_bytes, max_depth)
                if isinstance(parsed, Problem):
                    await dlq.send(key=event.key, value=event.value)
                else:
                    valid.append((event.message, parsed))
            if not valid:
                continue
            X = model.assembler.assemble([parsed for _, parsed in valid])
            predictions = model.predict(X).tolist()
            now_ms = int(time.time() * 1000)
            for (msg, parsed), row, p in zip(valid, X.tolist(), predictions, strict=True):
                source = (msg.topic, msg.partition, msg.offset)
                timestamp_ms = int(msg.timestamp * 1000) if msg.timestamp else None
                rec = score_record(parsed, row, p, decide(p, review, decline), model.version,
                                   source, timestamp_ms, now_ms)  # fmt: skip
                await scores.send(key=parsed["event_id"].encode(), value=orjson.dumps(rec))

    return app


class BackgroundApp:
    """The app on its own event loop; :meth:`run` blocks until :meth:`stop` or a crash."""

    def __init__(self, settings: Settings, model: Model, scores_topic: str, dlq_topic: str):
        self.args = (settings, model, scores_topic, dlq_topic)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._done.set()

    async def _main(self) -> None:
        app = build_app(*self.args)  # built on this loop: faust binds to the loop it starts on
        await app.start()
        try:
            while not self._stop.is_set() and not app.crashed:
                await asyncio.sleep(0.1)  # polling a thread-side flag; stop takes <= 0.1 s
        finally:
            await app.stop()  # commits what was processed
        if app.crashed:
            raise RuntimeError(f"faust app crashed: {app.crash_reason!r}")

    def stop(self, deadline_s: float = 60.0) -> None:
        self._stop.set()
        self._done.wait(deadline_s)


def run_faust(settings: Settings, events: int) -> float:
    """faust-streaming, in a thread of this process, timed like the other pipelines."""

    scores_topic, dlq_topic = output_topics(settings, "faust")
    ensure_topics(settings, [scores_topic, dlq_topic])
    background = BackgroundApp(settings, load_model(settings.model_dir), scores_topic, dlq_topic)
    try:
        return timed_until_committed(settings, GROUP, events, background.run)
    finally:
        background.stop()
        if background.error is None:
            check_outputs(settings, "faust", GROUP)
