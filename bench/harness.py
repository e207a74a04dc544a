"""What the real-broker benchmarks share: the broker, fresh topics, child processes, RSS."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from streams.config import Settings, env_vars
from streams.kafka import ensure_topics
from streams.realbroker import RealBroker

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
_ids = itertools.count()


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """``bootstrap`` if given, else the project's real Kafka for the duration."""
    if bootstrap:
        yield bootstrap
        return
    real = RealBroker()
    try:
        yield real.start()
    finally:
        real.stop()


def fresh_settings(bootstrap: str, name: str, **overrides: object) -> Settings:
    """Settings with topics, groups, transactional id and joiner state of their own (6
    partitions unless ``overrides`` say otherwise), every topic created. The real-broker
    tests use it too (``tests/helpers.py``)."""
    p = f"{name}.{os.getpid()}.{next(_ids)}"
    topics = {
        field: f"{p}.{default}"
        for field, default in Settings().model_dump().items()
        if field.startswith("topic_") and field != "topic_partitions"
    }
    defaults: dict[str, object] = {
        "model_dir": ROOT / "models",
        "metrics_port": 0,
        "topic_partitions": 6,
        "scorer_group_id": f"{p}-scorer",
        "joiner_group_id": f"{p}-joiner",
        "scorer_instance_id": p,
        "joiner_data_dir": Path(f"/tmp/{p}-joiner"),
        **topics,
    }
    settings = Settings(bootstrap_servers=bootstrap, **{**defaults, **overrides})  # type: ignore[arg-type]
    ensure_topics(settings, settings.all_topics())
    return settings


def child_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment for a ``python -m streams ...`` child process with ``settings``."""
    overrides = env_vars(settings.model_copy(update=extra)) if extra else env_vars(settings)
    return {**os.environ, **overrides}


def spawn(settings: Settings, *args: str, module: str = "streams") -> subprocess.Popen[bytes]:
    """``python -m <module> <args>`` with ``settings`` in its environment; logs discarded."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=child_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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


def wait_until(cond: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``cond`` until it holds; fail (AssertionError, also in tests) naming ``what``
    after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling a condition with a deadline
