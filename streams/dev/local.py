"""Running streamscore locally: fresh settings per run, child-process environments,
free ports, waiting for a condition with a deadline. Shared by the tests and the
benchmarks.

>>> wait_until(lambda: True, 1.0, "nothing")
>>> child_env(Settings(topic_events="ev"))["STREAMSCORE_TOPIC_EVENTS"]
'ev'
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from streams.config import Settings, env_vars
from streams.kafka import ensure_topics

ROOT = Path(__file__).resolve().parent.parent.parent
_ids = itertools.count()


def fresh_settings(bootstrap: str, name: str, **overrides: object) -> Settings:
    """Settings with topics, groups, transactional id and local state of their own (6
    partitions unless ``overrides`` say otherwise), every topic created."""
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
        "scorer_data_dir": Path(f"/tmp/{p}-scorer"),
        **topics,
    }
    settings = Settings(bootstrap_servers=bootstrap, **{**defaults, **overrides})  # type: ignore[arg-type]
    ensure_topics(settings, settings.all_topics())
    return settings


def child_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment for a ``python -m streams ...`` child process with ``settings``."""
    overrides = env_vars(settings.model_copy(update=extra)) if extra else env_vars(settings)
    return {**os.environ, **overrides}


def wait_until(cond: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``cond`` until it holds; fail (AssertionError, also in tests) naming ``what``
    after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling a condition with a deadline


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now (for a child's metrics port or a broker to come)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
