"""The Quix Streams baseline: streamscore's work per event as a Quix ``Application``.

Runs in its own venv (quixstreams 3.28.1 needs confluent-kafka<2.13; the project pins
2.16), made by ``bench/baselines/quix-venv.sh``, with the work tree on PYTHONPATH::

    bench/.venv-quix/bin/python -m bench.baselines.quix_pipeline --bootstrap 127.0.0.1:9092 \\
        --events-topic events --scores-topic scores.quix --dlq-topic events.dlq.quix \\
        --group bench-quix --model-dir models

What a Quix user writes, one message at a time: a ``StreamingDataFrame`` over the raw
bytes, ``streams.contract.validation.parse_event`` on each, then two branches (Quix copies the
value into the second): the invalid ones send their original bytes (original key) to
the DLQ topic, the valid ones assemble a one-row feature matrix, predict it
(``model.predict``, LightGBM on one thread) and go to the scores topic as the score
record streamscore writes (Quix's JSON serializer is orjson), keyed by event id.
``processing_guarantee="exactly-once"`` (as streamscore; the outputs are transactional),
``auto_offset_reset="earliest"``, commits every ``COMMIT_INTERVAL_S`` (Quix's default
is 5 s, which would pad the measured time).

:func:`run_quix` (main venv) makes the venv if needed, starts the pipeline as a
subprocess, waits until it has loaded the model and built the app, then starts the
clock and lets it run, timed like the other pipelines; it is stopped with SIGTERM
(Quix then commits its last checkpoint).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.baselines.common import check_outputs, decide, output_topics, score_record
from bench.harness import timed_until_committed

if TYPE_CHECKING:
    from streams.config import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_SCRIPT = ROOT / "bench" / "baselines" / "quix-venv.sh"
VENV_PYTHON = ROOT / "bench" / ".venv-quix" / "bin" / "python"
GROUP = "bench-quix"
COMMIT_INTERVAL_S = 0.2
READY = "ready"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Quix Streams baseline of bench.throughput")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--events-topic", required=True)
    p.add_argument("--scores-topic", required=True)
    p.add_argument("--dlq-topic", required=True)
    p.add_argument("--group", default=GROUP)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--review-threshold", type=float, default=0.2)
    p.add_argument("--decline-threshold", type=float, default=0.6)
    p.add_argument("--max-bytes", type=int, default=64 * 1024)
    p.add_argument("--max-depth", type=int, default=16)
    p.add_argument("--wait", action="store_true", help=f"print {READY!r}, start on a stdin line")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the app and run it until SIGTERM/SIGINT."""
    args = parse_args(argv)
    from quixstreams import Application, message_context

    from streams.contract.validation import Problem, parse_event
    from streams.model.artifact import load_model

    model = load_model(args.model_dir)
    assembler, version = model.assembler, model.version
    review, decline = args.review_threshold, args.decline_threshold
    max_bytes, max_depth = args.max_bytes, args.max_depth

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=COMMIT_INTERVAL_S,
        loglevel="WARNING",
    )
    events = app.topic(args.events_topic, key_deserializer="bytes", value_deserializer="bytes")
    scores = app.topic(args.scores_topic, key_serializer="str", value_serializer="json")
    dlq = app.topic(args.dlq_topic, key_serializer="bytes", value_serializer="bytes")

    def check(raw: bytes) -> tuple[bytes, Any]:
        return raw, parse_event(raw, max_bytes, max_depth)

    def score(checked: tuple[bytes, Any], _key: Any, timestamp: int, _headers: Any) -> Any:
        event = checked[1]
        X = assembler.assemble([event])
        p = float(model.predict(X)[0])
        ctx = message_context()
        return score_record(event, X[0].tolist(), p, decide(p, review, decline), version,
                            (ctx.topic, ctx.partition, ctx.offset), timestamp,
                            int(time.time() * 1000))  # fmt: skip

    sdf = app.dataframe(events).apply(check)
    invalid = sdf.filter(lambda checked: type(checked[1]) is Problem)
    invalid.apply(lambda checked: checked[0]).to_topic(dlq)
    valid = sdf.filter(lambda checked: type(checked[1]) is not Problem)
    valid.apply(score, metadata=True).to_topic(scores, key=lambda rec: rec["event_id"])

    if args.wait:
        print(READY, flush=True)
        sys.stdin.readline()
    app.run()


def run_quix(settings: Settings, events: int) -> float:
    """Quix Streams in its own venv and process, timed like the other pipelines."""
    from streams.kafka import ensure_topics

    if settings.security_protocol != "PLAINTEXT":
        raise RuntimeError("the Quix baseline passes no security settings: PLAINTEXT only")
    subprocess.run(["bash", str(VENV_SCRIPT)], check=True)
    scores_topic, dlq_topic = output_topics(settings, "quix")
    ensure_topics(settings, [scores_topic, dlq_topic])
    # fmt: off
    cmd = [str(VENV_PYTHON), "-m", "bench.baselines.quix_pipeline", "--wait",
           "--bootstrap", settings.bootstrap_servers, "--events-topic", settings.topic_events,
           "--scores-topic", scores_topic, "--dlq-topic", dlq_topic, "--group", GROUP,
           "--model-dir", str(settings.model_dir),
           "--review-threshold", str(settings.review_threshold),
           "--decline-threshold", str(settings.decline_threshold),
           "--max-bytes", str(settings.max_payload_bytes), "--max-depth", str(settings.max_depth)]
    # fmt: on
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": path},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if line.strip() != READY:
            raise RuntimeError(f"quix pipeline did not start (exit {proc.wait()}): {line!r}")
        stdout = proc.stdout
        threading.Thread(target=lambda: [print(s, end="") for s in stdout], daemon=True).start()

        def run() -> None:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            proc.wait()

        return timed_until_committed(settings, GROUP, events, run)
    finally:
        proc.terminate()
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code in (0, -15):
            check_outputs(settings, "quix", GROUP)


if __name__ == "__main__":
    main()
