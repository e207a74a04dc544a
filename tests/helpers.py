"""Test helpers shared by the real-broker tests."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

from streams.config import Settings, env_vars
from streams.kafka import ensure_topics


def wait_for(cond: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``cond`` until it holds; fail the test naming ``what`` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling interval of a condition with a deadline


def child_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment for a ``python -m streams ...`` child process with ``settings``."""
    overrides = env_vars(settings.model_copy(update=extra)) if extra else env_vars(settings)
    return {**os.environ, **overrides}


_ids = itertools.count()


def isolated_settings(bootstrap: str, **overrides: object) -> Settings:
    """Settings whose topics and groups no other test uses, with every topic created."""
    p = f"t{os.getpid()}-{next(_ids)}"
    names = {
        name: f"{p}.{default}"
        for name, default in Settings().model_dump().items()
        if name.startswith("topic_") and name != "topic_partitions"
    }
    groups = {"scorer_group_id": f"{p}-scorer", "joiner_group_id": f"{p}-joiner"}
    settings = Settings(
        bootstrap_servers=bootstrap,
        model_dir=Path(__file__).resolve().parent.parent / "models",
        metrics_port=0,
        **{**names, **groups, **overrides},  # type: ignore[arg-type]
    )
    ensure_topics(settings, settings.all_topics())
    return settings
