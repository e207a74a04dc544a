"""The ``streamscore join`` process around the faust app (:mod:`streams.feedback.app`):
start-up checks, the metrics port and readiness, the worker, and the exit code.

A store that cannot be written, at start or under a batch, ends the process with
:data:`~streams.feedback.health.EXIT_STORE` and what to fix (:mod:`streams.feedback.health`).

>>> run(settings)   # doctest: +SKIP
0
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from streams.config import Settings
from streams.feedback.app import (
    build_app,
    changelog_topic,
    check_copartitioned,
    input_topics,
    make_worker,
    output_topics,
)
from streams.feedback.health import (
    EXIT_STORE,
    JoinerHealth,
    StoreFailed,
    StoreHealth,
    fix_message,
    probe_writable,
)
from streams.ops.metrics import JoinerMetrics

if TYPE_CHECKING:
    from streams.kafka.runtime import Runtime

log = logging.getLogger(__name__)


def run(settings: Settings) -> int:
    """``streamscore join``: check the store and the inputs, then run the faust worker
    until SIGTERM/SIGINT; :data:`~streams.feedback.health.EXIT_STORE` when the store
    cannot be written (at start, or a batch's writes)."""
    from streams.kafka.runtime import connect

    try:
        probe_writable(settings.joiner_data_dir)
    except StoreFailed as exc:
        return _store_failed(str(exc))
    store = StoreHealth()
    with connect(settings) as rt:
        partitions = _check_inputs(rt)
        code = _run_worker(rt, partitions, store)
    if not store.writable:
        return _store_failed(fix_message(settings.joiner_data_dir, store.error))
    return code


def _check_inputs(rt: Runtime) -> int:
    """The inputs' common partition count, after checking the ACLs the joiner needs."""
    from streams.kafka.acls import check_access
    from streams.kafka.runtime import require_topics

    settings = rt.settings
    inputs = input_topics(settings)
    partitions = check_copartitioned(require_topics(settings, inputs))
    if not rt.on_embedded:  # aiokafka waits for a group it may not join, saying nothing
        check_access(settings, settings.joiner_group_id, inputs, output_topics(settings))
    if rt.embedded is not None:  # faust may not declare topics there: make its changelog
        rt.embedded.create_topics([changelog_topic(settings)])
    return partitions


def _run_worker(rt: Runtime, partitions: int, store: StoreHealth) -> int:
    """The faust worker with the metrics port, until it stops; its exit code."""
    from streams.kafka.faust_transport import BrokerProbe
    from streams.ops.http import ObservabilityServer
    from streams.ops.lag import LagCollector
    from streams.ops.metrics import process_registry

    settings = rt.settings
    registry = process_registry()
    app, _ = build_app(
        settings,
        partitions,
        topic_allow_declare=not rt.on_embedded,
        metrics=JoinerMetrics(registry),
        gc_interval_s=settings.gc_interval_s,
        store_health=store,
    )

    def assigned() -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in set(app.consumer.assignment())}

    inputs = input_topics(settings)
    registry.register(LagCollector(settings, settings.joiner_group_id, inputs, assigned))
    health = JoinerHealth(assigned, BrokerProbe(settings), store)
    server = None
    if settings.metrics_port:
        server = ObservabilityServer(
            settings.metrics_port, registry, health.checks, settings.metrics_host
        ).start()
    worker = make_worker(app, settings)
    try:
        worker.execute_from_commandline()  # handles SIGTERM/SIGINT: stops, commits
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if server is not None:
            server.stop()
    return 0


def _store_failed(message: str) -> int:
    """Say what to fix, on the log and on stderr; the exit code for it."""
    log.critical("exiting: %s", message)
    print(f"streamscore: {message}", file=sys.stderr, flush=True)
    return EXIT_STORE
