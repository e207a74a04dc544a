"""Test helpers shared by the real-broker tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from streams.config import Settings, env_vars


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
