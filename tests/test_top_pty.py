"""``streamscore top`` in a pseudo-terminal, reading a real scorer on the embedded broker.

The scorer runs in a thread of the test with its /metrics on a free port, fed paced
generated events (5% messy); ``streamscore top`` runs as a child process on a 140x50
pty, so rich draws for a terminal. While events flow the screen shows them arriving
(events/s > 0, live frames redrawn until Ctrl-C); once the scorer has drained, it shows
the scorer's own totals: scored, each decision and the dead letters.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import ROOT, wait_until
from streams.dev.messy import MessySpec
from streams.dev.produce import write_records
from streams.kafka.runtime import connect
from streams.ops.http import ObservabilityServer
from streams.scoring.factory import build_scorer
from streams.scoring.scorer import Scorer

COUNT = 8_000
RATE = 1_000.0  # events/s: about 8 s of traffic, several reads of top while it flows
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(
    args: list[str], until: Callable[[str], bool] | None = None, deadline_s: float = 60.0
) -> tuple[str, str, int]:
    """Run ``streamscore <args>`` on a 140x50 pty: (raw output, its text without escape
    codes, exit code). With ``until``, Ctrl-C (SIGINT) once the text satisfies it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 140, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env={**env, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline, interrupted = time.monotonic() + deadline_s, False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            try:
                data = os.read(master, 65536) if ready else b""
            except OSError:  # EIO: the child closed the terminal
                break
            if ready and not data:
                break
            chunks.append(data)
            text = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
            if until is not None and not interrupted and until(text):
                proc.send_signal(signal.SIGINT)
                interrupted = True
        else:
            proc.kill()
            pytest.fail(f"streamscore {' '.join(args)} still running after {deadline_s} s")
        code = proc.wait(10)
    finally:
        os.close(master)
    raw = b"".join(chunks).decode(errors="replace")
    return raw, ANSI.sub("", raw), code


def number(pattern: str, text: str) -> int:
    """The last match of ``pattern``'s number in ``text`` (the latest frame's)."""
    found = re.findall(pattern, text)
    assert found, f"{pattern!r} not on the screen:\n{text}"
    return int(found[-1].replace(",", ""))


@pytest.fixture
def scorer() -> Iterator[tuple[Scorer, CollectorRegistry, str, threading.Thread]]:
    """A scorer on the embedded broker, its /metrics on a free port, being fed events."""
    settings = Settings(bootstrap_servers="embedded", model_dir=ROOT / "models")
    config = GeneratorConfig(seed=11, count=COUNT, messy=MessySpec(0.05))
    with connect(settings) as rt:
        registry = CollectorRegistry()
        s = build_scorer(rt.settings, registry, exactly_once=False)
        server = ObservabilityServer(0, registry, s.checks, "127.0.0.1").start()
        stop = threading.Event()
        loop = threading.Thread(target=s.run, args=(stop,), daemon=True)
        loop.start()
        feed = threading.Thread(
            target=write_records, args=(rt.settings, generate(config), RATE), daemon=True
        )
        feed.start()
        try:
            yield s, registry, f"127.0.0.1:{server.port}", feed
        finally:
            stop.set()
            loop.join(30)
            server.stop()


def test_top_in_a_terminal_shows_the_running_scorers_numbers(
    scorer: tuple[Scorer, CollectorRegistry, str, threading.Thread],
) -> None:
    s, registry, target, feed = scorer
    wait_until(lambda: s.stats.consumed > 0, 60, "the scorer consuming")

    raw, screen, code = run_in_pty(["top", "--targets", target, "--once", "--interval", "1"])
    assert code == 0, screen
    assert "\x1b[" in raw  # drawn for a terminal (styles), not as plain lines
    assert f"{target} scorer" in screen
    assert number(r"events in\s+([\d,]+)/s", screen) > 0
    assert 0 < number(r"consumed\s+([\d,]+)", screen) <= COUNT

    # live: redrawn each interval until Ctrl-C, which ends it with 0
    frames = re.compile(r"events in\s+[1-9][\d,]*/s")
    raw, screen, code = run_in_pty(
        ["top", "--targets", target, "--interval", "0.5"],
        until=lambda t: len(frames.findall(t)) >= 3,
    )
    assert code == 0, screen
    assert len(frames.findall(screen)) >= 3

    feed.join(60)
    scored = "streamscore_events_scored_total"
    wait_until(
        lambda: s.stats.consumed == COUNT and registry.get_sample_value(scored) == s.stats.scored,
        60,
        "the scorer drained, its metrics up to date",
    )
    _, screen, code = run_in_pty(["top", "--targets", target, "--once", "--interval", "0.2"])
    assert code == 0, screen
    assert number(r"scored\s+([\d,]+)", screen) == s.stats.scored > 0
    assert number(r"consumed\s+([\d,]+)", screen) == COUNT
    for decision, n in s.stats.decisions.items():
        assert number(rf"\b{decision}\s+([\d,]+)\s+[\d.]+%", screen) == n
    dead = s.stats.dead_letters
    top_reason = max(dead, key=lambda r: dead[r])
    assert number(rf"scorer: {top_reason}\s+([\d,]+)", screen) == dead[top_reason] > 0
