"""``streamscore score``: the scorer process, events → scores | events.dlq.

The loop, per micro-batch: poll up to ``batch_max_size`` records or
``batch_max_wait_ms`` → :class:`~streams.scoring.pipeline.ScoringPipeline` (pure) →
:meth:`~streams.kafka.batch.BatchIO.deliver` (produce, then commit, in the order
that module documents). Between batches, a new model version loaded in the background
(:mod:`streams.scoring.reload`) is swapped in. SIGTERM/SIGINT let the current batch finish
and commit, then the process closes and exits 0.

>>> stats = Scorer(settings, pipeline, io, metrics).run(stop)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from streams.config import Settings
from streams.contract.records import InRecord
from streams.kafka.batch import BatchAborted
from streams.model.fallback import FALLBACK_VERSION
from streams.monitoring.drift import DriftMonitor, drift_monitor
from streams.ops.gc_control import Collector
from streams.ops.metrics import ScorerMetrics
from streams.scoring.account_state import AccountStates, account_states
from streams.scoring.challengers import ModelSet
from streams.scoring.pipeline import BatchResult, ScoringPipeline, merge_results
from streams.scoring.reload import ModelReloader
from streams.scoring.scorer_io import ScorerIO
from streams.scoring.side_outputs import canary_stopped, drift_outputs
from streams.scoring.state_restore import StateRestorer

log = logging.getLogger(__name__)

Scored = tuple[list[InRecord], BatchResult]
"""A polled batch and what the pipeline made of it."""

# settle() waited at least this long: records may have come in meanwhile
_TOP_UP_AFTER_S = 0.001
# the wait after the second abort in a row, doubled at each next one (the first is retried
# at once: a rebalance aborts a transaction now and then)
_BACKOFF_FIRST_S = 0.1


@dataclass
class ScorerStats:
    """What a scorer run did (also exported as metrics)."""

    consumed: int = 0
    scored: int = 0
    fallback: int = 0
    batches: int = 0
    aborted: int = 0
    drift_alerts: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)


def _size(parts: list[Scored]) -> int:
    return sum(len(batch) for batch, _ in parts)


def _merged(parts: list[Scored]) -> Scored:
    """Parts of one batch, scored one after the other, as one scored batch."""
    if len(parts) == 1:
        return parts[0]
    return [r for batch, _ in parts for r in batch], merge_results([res for _, res in parts])


class Scorer:
    """Runs the micro-batch loop until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        pipeline: ScoringPipeline,
        io: ScorerIO,
        metrics: ScorerMetrics,
        drift: DriftMonitor | None = None,
        reloader: ModelReloader | None = None,
        restorer: StateRestorer | None = None,
        new_states: Callable[[], AccountStates] | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.drift = drift
        self.reloader = reloader
        self.io = io
        self.metrics = metrics
        # the velocity state's restores on assignment (none without a changelog)
        self.restorer = restorer or StateRestorer(lambda starts: {})
        # a velocity model's state, at a swap to one (the factory's: store and bound)
        self._new_states = new_states or partial(account_states, settings)
        self.stats = ScorerStats()
        self._sent: Scored | None = None  # the batch whose delivery is in flight
        # the batch settled last, until _account_settled: (inputs, result, seconds)
        self._settled: tuple[list[InRecord], BatchResult, dict[str, float]] | None = None
        self._poll_step_s = settings.commit_poll_ms / 1000 if settings.overlap_commit else 0.0
        self._failures = 0  # batches aborted in a row
        self._stop = threading.Event()  # run()'s: a backoff ends early on SIGTERM
        self._announce_model()

    def run(self, stop: threading.Event) -> ScorerStats:
        """Process batches until ``stop`` is set; the batch in hand always completes."""
        collector = Collector(self.settings.gc_interval_s, freeze_survivors=True)
        self._stop = stop
        try:
            while not stop.is_set():
                self._cycle()
                if self.reloader is not None and (models := self.reloader.poll(self.models)):
                    self._settle()  # the old models' batches are committed before they go
                    self._account_settled()
                    self._swap(models)
                    collector.refreeze()  # the old model may be cyclic garbage now
                collector.between_batches()
            self._settle()
            self._account_settled()
            if self.pipeline.states is not None:  # after the last commit: committed state
                self.restorer.stopped(self.pipeline.states)
        finally:
            collector.close()
            self.restorer.close()
            self.io.close()
        return self.stats

    def _cycle(self) -> None:
        """Poll a batch; score it while the last batch commits; take in what arrives
        until that commit is through; send this batch."""
        cfg = self.settings
        max_size = cfg.batch_max_size
        batch = self.io.poll_batch(
            max_size, cfg.batch_max_wait_ms / 1000, cfg.batch_linger_ms / 1000
        )
        self._follow_assignment()
        parts: list[Scored] = []
        overlapped = self.io.committing()
        # a full batch (a backlog) is scored while the last one commits; a smaller one
        # too, if commit_poll_ms lets the scorer take in, every so often, what arrives
        # until the commit is through (else those records would wait for another commit)
        if batch and (len(batch) == max_size or self._poll_step_s > 0):
            parts, batch = self._score_during_commit(batch, max_size)
        waited = self._settle()
        if waited is None:
            return  # aborted: rewound to before what was polled and scored
        room = max_size - _size(parts) - len(batch)
        if room > 0 and (waited > _TOP_UP_AFTER_S or (overlapped and self._poll_step_s > 0)):
            # what came while the commit went out joins this batch, not the next
            parts, batch = self._take_in(parts, batch, max_size)
        if batch:
            parts.append(self._score(batch))
        if parts:
            self._send(_merged(parts))
        self._account_settled()  # after the send: bookkeeping is not on its path

    def _take_in(
        self, parts: list[Scored], batch: list[InRecord], max_size: int
    ) -> tuple[list[Scored], list[InRecord]]:
        """``parts`` and ``batch`` with what has arrived since, up to ``max_size`` in all,
        without waiting; a revoke meanwhile drops the revoked partitions' records from
        both (those of ``batch`` in :meth:`BatchIO.poll_more`)."""
        batch = self.io.poll_more(batch, max_size - _size(parts))
        self._follow_assignment()
        return self._drop_revoked(parts), batch

    def _score_during_commit(
        self, batch: list[InRecord], max_size: int
    ) -> tuple[list[Scored], list[InRecord]]:
        """While the last batch commits (in the committer thread), take in what arrives
        every ``commit_poll_ms`` and score it in parts of at least ``commit_part_min``:
        when the commit is through, little is left to score. The parts scored, and the
        records taken in but not scored yet.

        The waits release the GIL, and a part is small, so the committer thread is
        not kept waiting for the GIL (at most for one part's scoring). Scoring a part
        has a fixed cost (~55 µs in memory, however few its records), hence the minimum.
        """
        parts: list[Scored] = []
        step, part_min = self._poll_step_s, self.settings.commit_part_min
        while True:
            if batch and (len(batch) >= part_min or _size(parts) + len(batch) >= max_size):
                parts.append(self._score(batch))
                batch = []
            room = max_size - _size(parts) - len(batch)
            if not (step > 0 and room > 0 and self.io.committing()):
                return parts, batch
            self.io.wait_commit(step)
            parts, batch = self._take_in(parts, batch, max_size)

    def _drop_revoked(self, parts: list[Scored]) -> list[Scored]:
        """After a revoke in the last poll, ``parts`` without the records of partitions
        no longer assigned (their new owner reads them again), scored again as one
        (the drift monitor sees those records twice; revokes are rare)."""
        if not self.io.revoked:
            return parts
        records = [r for batch, _ in parts for r in batch]
        owned = self.io.owned(records)
        if len(owned) == len(records):
            return parts
        if self.pipeline.states is not None:
            self.pipeline.states.discard_open()  # observed again below, in the same order
        return [self._score(owned)] if owned else []

    def _follow_assignment(self) -> None:
        """After a poll, with velocity features: the state of the partitions assigned now,
        a newly assigned one's restored before its events are scored."""
        states, assigned = self.pipeline.states, self.io.assigned
        if states is not None and assigned is not None:  # None: every partition (MemoryIO)
            self.restorer.follow(states, {p for _, p in assigned})

    def checks(self) -> dict[str, bool]:
        """Readiness: partitions assigned, broker reachable, model loaded, outputs committing
        (false from an aborted batch until a batch is delivered)."""
        return {
            "partitions_assigned": bool(self.io.assigned),
            "broker_reachable": self.io.broker_reachable(),
            "model_loaded": self.pipeline.model is not None,
            "outputs_committing": self._failures == 0,
        }

    @property
    def version_in_use(self) -> str | None:
        """The version of the model scoring now (None: the fallback rules)."""
        model = self.pipeline.model
        return model.version if model is not None else None

    @property
    def models(self) -> ModelSet:
        """The champion and challengers scoring now."""
        return ModelSet(self.pipeline.model, self.pipeline.challengers.loaded)

    def _swap(self, models: ModelSet) -> None:
        """Between batches: score with ``models`` from the next batch on."""
        previous = self.version_in_use
        pipe = self.pipeline  # the fallback model stays: it is loaded once, at start
        # the velocity state goes with a model without the features (a later one restores)
        base = models.champion or pipe.fallback
        states = pipe.states
        if states is None and base is not None and base.features.computed:
            states = self._new_states()
        self.pipeline = ScoringPipeline(
            models.champion, pipe.config, models.challengers, pipe.fallback, states
        )
        if models.champion is None or models.champion.version != previous:
            self.drift = drift_monitor(self.settings, models.champion)
        self._announce_model()
        extra = {"version": models.state[0], "previous": previous}
        log.info("models loaded", extra={**extra, "challengers": models.state[1]})

    def _announce_model(self) -> None:
        model = self.pipeline.model
        self.metrics.model_loaded.set(1 if model is not None else 0)
        version = model.version if model else FALLBACK_VERSION
        predictor = model.predictor if model else "rules"
        self.metrics.model.info({"version": version, "predictor": predictor})
        self.metrics.challengers.clear()
        for c in self.pipeline.challengers.loaded:
            self.metrics.challengers.labels(model_version=c.version, role=c.role).set(1)
        challengers = [f"{c.version}:{c.role}" for c in self.pipeline.challengers.loaded]
        extra = {"version": version, "predictor": predictor, "challengers": challengers}
        log.info("model in use", extra=extra)

    def _score(self, batch: list[InRecord]) -> Scored:
        result = self.pipeline.process(batch, int(time.time() * 1000))
        self._watch_drift(result)
        if result.guard_trip is not None:
            canary_stopped(self.settings, self.metrics, result.guard_trip, result)
        return batch, result

    def _send(self, scored: Scored) -> None:
        batch, result = scored
        try:
            self.io.send(result.records, batch)
        except BatchAborted:
            self._aborted()  # rewound: the same records come again
            return
        if self.pipeline.states is not None:
            self.pipeline.states.sent()
        self._sent = scored

    def _settle(self) -> float | None:
        """Wait for the batch in flight (:meth:`_account_settled` accounts for it); the
        seconds waited, or None if its transaction was aborted."""
        sent, self._sent = self._sent, None
        try:
            seconds = self.io.settle()
        except BatchAborted:
            self._aborted()  # rewound: what was polled since comes again too
            return None
        if sent is not None:
            if self.pipeline.states is not None:
                self.pipeline.states.committed()
            self._settled = (*sent, seconds)
            if self._failures:
                log.info("delivering again", extra={"aborted_in_a_row": self._failures})
                self._failures = 0
                self.metrics.delivery_failures.set(0)
        return seconds.get("commit_wait", 0.0)

    def _account_settled(self) -> None:
        """Stats and metrics of the batch settled last, once."""
        if self._settled is not None:
            self._account(*self._settled)
            self._settled = None

    def _aborted(self) -> None:
        """A batch was aborted and rewound; from the second in a row, back off (doubling,
        up to ``delivery_backoff_max_s``) before it is polled again."""
        if self.pipeline.states is not None:
            self.pipeline.states.aborted()
        self.stats.aborted += 1
        self.metrics.batches_aborted.inc()
        self._failures += 1
        self.metrics.delivery_failures.set(self._failures)
        if self._failures > 1:
            wait_s = min(
                _BACKOFF_FIRST_S * 2 ** (self._failures - 2), self.settings.delivery_backoff_max_s
            )
            extra = {"aborted_in_a_row": self._failures, "retry_in_s": round(wait_s, 3)}
            log.warning("outputs not delivered; retrying", extra=extra)
            self._stop.wait(wait_s)

    def _watch_drift(self, result: BatchResult) -> None:
        """Feed the batch's valid events to the drift monitor; alerts join the batch's outputs."""
        if self.drift is not None and result.scored:
            topic = self.settings.topic_drift_alerts
            self.stats.drift_alerts += drift_outputs(self.drift, result, topic, self.metrics)

    def _account(
        self, batch: list[InRecord], result: BatchResult, deliver: dict[str, float]
    ) -> None:
        s = self.stats
        s.batches += 1
        s.consumed += len(batch)
        s.scored += result.scored
        s.fallback += result.fallback
        s.dead_letters.update(result.dead_letters)
        s.decisions.update(result.decisions)
        stamps = [r.origin.timestamp_ms for r in batch if r.origin.timestamp_ms is not None]
        self.metrics.observe_batch(len(batch), result, deliver, stamps)
        if self.pipeline.states is not None:
            memory, store = self.pipeline.states.sizes()
            self.metrics.velocity_accounts.labels(where="memory").set(memory)
            self.metrics.velocity_accounts.labels(where="store").set(store)
