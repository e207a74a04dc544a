"""``streamscore settings``: every effective setting, and where its value came from.

Secrets (SecretStr settings: passwords) are masked. The sources: ``flag`` (given on
this command line), ``env`` (a ``STREAMSCORE_*`` variable) or ``default``.

>>> main(["settings", "--review-threshold", "0.3"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os

from pydantic import SecretStr

from streams.cli.setting_flags import setting_sources
from streams.cli.setting_groups import GROUPS
from streams.config import Settings
from streams.ops.logs import MASK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No flags of its own: it shows the settings the others take."""


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Print the table."""
    print(render(settings, args))
    return 0


def render(settings: Settings, args: argparse.Namespace) -> str:
    """The settings by group: name, value (secrets masked), source."""
    sources = setting_sources(args, os.environ)
    order = [s for g in GROUPS for s in g.settings]
    order += [s for s in Settings.model_fields if s not in order]
    width = max(len(n) for n in order)
    lines = [f"{'setting':<{width}}  {'value':<30}  source"]
    for name in order:
        lines.append(f"{name:<{width}}  {_shown(getattr(settings, name)):<30}  {sources[name]}")
    return "\n".join(lines)


def _shown(value: object) -> str:
    """A value as given; a secret masked (an unset one is shown as unset)."""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    return "" if value is None else str(value)
