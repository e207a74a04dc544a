"""``streamscore join``: the joiner process, scores + feedback -> labelled.

It runs until SIGTERM or SIGINT (exit 0); exit 4 when its store cannot be written.

>>> main(["join", "--bootstrap-servers", "kafka:9092"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No flags of its own: the joiner is all settings."""


def run(settings: Settings, _args: argparse.Namespace) -> int:
    """Run the joiner until stopped."""
    from streams.feedback.app import run_joiner

    return run_joiner(settings)
