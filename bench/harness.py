"""What the real-broker benchmarks share: the broker, fresh topics, child processes, RSS.

Fresh settings, child environments and waiting are :mod:`streams.dev.local`'s (the
tests use them too).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import TopicPartition

from streams.config import Settings
from streams.dev.local import ROOT, child_env
from streams.dev.realbroker import RealBroker
from streams.kafka import make_consumer
from streams.kafka.groups import committed_offsets

RESULTS = ROOT / "bench" / "results"


class Broker(NamedTuple):
    """A broker for a benchmark: where it is, and its JVM's pid if this process started it."""

    bootstrap: str
    pid: int | None


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[Broker]:
    """``bootstrap`` if given (pid unknown), else the project's real Kafka for the duration."""
    if bootstrap:
        yield Broker(bootstrap, None)
        return
    real = RealBroker()
    try:
        yield Broker(real.start(), real.pid)
    finally:
        real.stop()


def spawn(
    settings: Settings,
    *args: str,
    module: str = "streams",
    cwd: Path = ROOT,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m <module> <args>`` with ``settings`` in its environment, run in ``cwd``
    (whose code it imports first); its output appended to ``log``, or discarded."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("ab")) if log else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=child_env(settings),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        )


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> int:
    """SIGTERM, wait (SIGKILL after ``timeout_s``); the exit code."""
    proc.terminate()
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int, exclude: Collection[int] = ()) -> float:
    """CPU time (user + system) of ``pid`` and its live descendants, from /proc.

    ``exclude``: descendants not to count, with theirs (a broker this process started).
    """
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # it ended meanwhile: its time is gone
                stats[int(entry.name)] = _stat_fields(entry / "stat")
    children: dict[int, list[int]] = {}
    for child, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(child)  # field 4: the parent's pid
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats and p not in exclude:
            total += _cpu_of(stats[p])
            todo += children.get(p, [])
    return total


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(path: Path) -> list[str]:
    """A /proc ``stat`` file's fields after the command name (which may hold spaces or
    parentheses): the state is [0], the parent's pid [1]."""
    return path.read_text().rsplit(")", 1)[1].split()


def _cpu_of(fields: list[str]) -> float:
    """CPU seconds (user + system) in :func:`_stat_fields`' fields."""
    return (int(fields[11]) + int(fields[12])) / _TICKS


def jit_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the JVM ``pid``'s JIT compiler threads, from /proc.

    HotSpot names them ``C1 CompilerThread<n>`` and ``C2 CompilerThread<n>``. Only live
    threads count; on 2 cores the JVM keeps one of each for its life.
    """
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            if (task / "comm").read_text().startswith(("C1 CompilerThre", "C2 CompilerThre")):
                total += _cpu_of(_stat_fields(task / "stat"))
    return total


def timed_until_committed(
    settings: Settings,
    group: str,
    target: int,
    run: Callable[[], object],
    deadline_s: float = 1800.0,
) -> float:
    """Seconds from starting ``run`` in a thread until ``group`` has committed ``target``
    offsets on the input; the run's CPU µs per event go to :data:`LAST_CPU`. Fails if
    ``run`` stops first or ``deadline_s`` passes (a stuck pipeline, not a slow one)."""
    # one client for all the polling (a new one per poll would tax the measured process);
    # it never subscribes; read_uncommitted, so an open transaction does not stall it
    topic = settings.topic_events
    reader = make_consumer(settings, group, **{"isolation.level": "read_uncommitted"})
    parts = reader.list_topics(topic, timeout=15).topics[topic].partitions
    tps = [TopicPartition(topic, p) for p in sorted(parts)]

    def committed() -> int:  # retries while the group coordinator moves or loads
        return sum(max(tp.offset, 0) for tp in committed_offsets(reader, tps))

    try:
        cpu0 = _cpu_now()
        t0 = time.monotonic()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        while committed() < target:
            if not thread.is_alive():
                raise RuntimeError(f"{group} stopped before committing {target}")
            if time.monotonic() - t0 > deadline_s:
                raise RuntimeError(f"{group} did not commit {target} within {deadline_s:g} s")
            time.sleep(0.2)  # polling the committed offsets; the measured span is seconds long
        seconds = time.monotonic() - t0
        LAST_CPU.update({k: (v - cpu0[k]) / target * 1e6 for k, v in _cpu_now().items()})
        return seconds
    finally:
        reader.close()


BROKER_PID: list[int] = []
"""The broker JVM's pid, when this benchmark started the broker."""

LAST_CPU: dict[str, float] = {}
"""The last timed run's CPU µs per event: this process (and its children), the broker."""


def _cpu_now() -> dict[str, float]:
    """CPU seconds so far of this process with its children, and of the broker."""
    cpu = {"process": cpu_seconds(os.getpid(), exclude=BROKER_PID)}
    if BROKER_PID:
        cpu["broker"] = cpu_seconds(BROKER_PID[0])
    return cpu


def velocity_models() -> Path:
    """A models/ whose current version takes the velocity features: v1's training (seed,
    rounds, parameters) with them added, on the benchmarks' streams (the generator's
    default clock, no takeovers: it decides as v1 does, ~3% flagged, so only the
    features' cost differs), trained once into ``var/``."""
    from streams.dev.generator import GeneratorConfig
    from streams.dev.training import TrainConfig, train, write_artifact

    out = ROOT / "var" / "velocity-models-bench"
    if not (out / "CURRENT").is_file():
        clock = GeneratorConfig().events_per_second
        config = TrainConfig(events=100_000, velocity=True, events_per_second=clock, takeovers=0.0)
        result = train(config, version="v1-velocity")
        write_artifact(result, out, set_current=True)
    return out
