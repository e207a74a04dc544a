"""What reading consumed records' headers would cost the scorer's poll, without a broker.

    .venv/bin/python -m bench.headers            # ~30 s; writes bench/results/headers.json

Records without headers, with one (a trace id) and with three are produced to
librdkafka's mock cluster in this process (:mod:`streams.kafka.embedded`), consumed, turned
into InRecords as ``BatchIO.poll_batch`` does and freed with their messages (as a batch
is once sent): headers not kept at all (as before dead letters kept them), every
record's headers read, and the message kept so that only dead letters read them (what
ships). confluent-kafka converts a message's headers to Python on the first
``headers()`` call, so every repeat consumes afresh (not timed). Best of 7 repeats, the
ways taking turns, ns per record, automatic GC off as in the scorer.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from bench.harness import RESULTS
from streams.contract.records import Headers, InRecord
from streams.kafka.clients import origin_of
from streams.kafka.embedded import EmbeddedBroker

RECORDS = 20_000
TRACE: Headers = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
HEADERS: dict[str, Headers | None] = {
    "no headers": None,
    "1 header (a trace id)": TRACE,
    "3 headers": [*TRACE, ("tenant", b"acme"), ("bin", b"\x00\xff\xfe")],
}
WAYS: dict[str, Callable[[Message], object]] = {
    "headers not kept": lambda m: InRecord(origin_of(m), m.key(), m.value()),
    "every record's headers read": lambda m: InRecord(
        origin_of(m),
        m.key(),
        m.value(),
        m.headers(),  # type: ignore[arg-type]  # a list
    ),
    "message kept, dead letters read them (used)": lambda m: InRecord(
        origin_of(m), m.key(), m.value(), None, m
    ),
    "a dead letter reading them from the kept message": lambda m: InRecord(
        origin_of(m), m.key(), m.value(), None, m
    ).read_headers(),
}


def _consume(bootstrap: str, topic: str, partitions: int) -> list[Message]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-headers"})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[Message] = []
    deadline = time.monotonic() + 60
    while len(out) < RECORDS and time.monotonic() < deadline:
        out += [m for m in consumer.consume(5000, 0.5) if m.error() is None]
    consumer.close()
    if len(out) != RECORDS:
        raise RuntimeError(f"consumed {len(out)} of {RECORDS} records from {topic}")
    return out


def _best_ns(consume: Callable[[], list[Message]]) -> dict[str, float]:
    """Best time per record of each way, the ways interleaved within each repeat."""
    best = dict.fromkeys(WAYS, float("inf"))
    for _ in range(7):
        for way, build in WAYS.items():
            messages = consume()
            t0 = time.perf_counter()
            batch = [build(m) for m in messages]
            del messages, batch  # freed in the time: a batch is dropped once it is sent
            best[way] = min(best[way], time.perf_counter() - t0)
    return {way: round(seconds / RECORDS * 1e9) for way, seconds in best.items()}


def measure() -> dict[str, dict[str, float]]:
    """ns per record, by headers on the records and way of building the InRecord."""
    value = orjson.dumps({"event_id": "e", "amount": 12.5, "pad": "x" * 300})
    out = {}
    with EmbeddedBroker() as broker:
        topics = {f"headers-{i}": h for i, h in enumerate(HEADERS.values())}
        broker.create_topics(list(topics))
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for topic, headers in topics.items():
            for i in range(RECORDS):
                producer.produce(topic, value, b"k%d" % i, headers=headers)
                producer.poll(0)
        producer.flush(30)
        parts = broker.partitions(next(iter(topics)))
        for name, topic in zip(HEADERS, topics, strict=True):
            consume = lambda t=topic: _consume(broker.bootstrap, t, parts)  # noqa: E731
            out[name] = _best_ns(consume)
    return out


def main() -> None:
    """Measure, write bench/results/headers.json and regenerate BENCHMARKS.md."""
    from bench.report import write_report

    gc.disable()  # the scorer collects between batches, not inside them
    result = {"command": "python -m bench.headers", "records": RECORDS, "ns": measure()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "headers.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    write_report()


if __name__ == "__main__":
    main()
