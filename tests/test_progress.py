"""Progress of long commands (train, retrain, produce, dlq replay): a line per tenth off
a terminal, a rich bar on one."""

from __future__ import annotations

import io

from streams.config import Settings
from streams.contract.records import OutRecord
from streams.kafka import publish
from streams.kafka.embedded import EmbeddedBroker
from streams.ops.progress import Progress


def test_progress_writes_a_line_per_tenth_off_a_terminal() -> None:
    out = io.StringIO()
    bar = Progress("reading", 1_000, out)
    for done in range(0, 1_001, 5):
        bar.update(done)
    bar.finish(1_000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 12 and lines[-1] == "reading: 1,000 done"


def test_progress_draws_a_bar_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = Progress("training", 10, out)
    for done in range(1, 11):
        bar.update(done)
    bar.finish(10)
    text = out.getvalue()
    assert "training" in text and "10/10" in text
    assert "\x1b[" in text  # drawn with terminal codes, not plain lines


def test_publishing_reports_every_thousand_records_sent() -> None:
    seen: list[int] = []
    with EmbeddedBroker() as broker:
        broker.create_topics(["t"])
        records = [OutRecord("t", str(k).encode(), b"{}") for k in range(2_500)]
        sent = publish(Settings(bootstrap_servers=broker.bootstrap), records, seen.append)
    assert sent == 2_500 and seen == [1_000, 2_000]
