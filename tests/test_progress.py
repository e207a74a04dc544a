"""Progress of long commands (train, retrain, produce, dlq replay, the broker's jar
fetch): a line per tenth off a terminal, a rich bar on one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from streams.config import Settings
from streams.contract.records import OutRecord
from streams.dev.realbroker import KAFKA_JARS, _copy_jars
from streams.errors import BrokerError
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


def test_the_jar_fetch_counts_the_jars_as_they_arrive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arrive = 'for i in 1 2 3; do touch "$0/$i.jar"; sleep 0.3; done'
    _copy_jars(["sh", "-c", arrive, str(tmp_path)], tmp_path, timeout_s=30)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"fetching the Kafka jars with Maven: 0/{KAFKA_JARS}")
    assert lines[-1] == "fetching the Kafka jars with Maven: 3 done"


def test_a_failed_jar_fetch_says_why(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match=r"failed \(exit 3\):\nno network"):
        _copy_jars(["sh", "-c", "echo no network; exit 3"], tmp_path, timeout_s=30)
