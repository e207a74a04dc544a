"""Settings as flags: every setting is a flag of every command, help shows a command's own.

Each setting of :class:`streams.config.Settings` is ``--<name>`` on every command, so
scripts that pass one to any command keep working; a command's ``--help`` describes only
the groups it uses (:mod:`streams.cli.setting_groups`). Flags win over ``STREAMSCORE_*``
environment variables, which win over defaults; :func:`setting_sources` says which one
gave each value.

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_setting_flags(p)
>>> build_settings(p.parse_args(["--topic-events", "ev"])).topic_events
'ev'
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from collections.abc import Iterable, Mapping
from typing import Literal, get_args

from streams.cli.setting_groups import GROUPS, NOTES, Group
from streams.config import Settings

PREFIX = "setting_"
"""Parsed setting flags are ``args.setting_<name>``: apart from a command's own flags."""

Source = Literal["default", "env", "flag"]

MAX_WIDTH = 100


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """Every setting as ``--<name>``, none in the generated help (see :func:`settings_help`)."""
    for name in Settings.model_fields:
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=PREFIX + name,
            default=None,
            metavar=name.upper(),
            help=argparse.SUPPRESS,
        )


def given_flags(args: argparse.Namespace) -> dict[str, str]:
    """The settings given as flags: ``{name: value}``."""
    return {
        key.removeprefix(PREFIX): value
        for key, value in vars(args).items()
        if key.startswith(PREFIX) and value is not None
    }


def build_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    return Settings(**given_flags(args))  # type: ignore[arg-type]


def setting_sources(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Source]:
    """Where each setting's value came from: a flag, a ``STREAMSCORE_*`` variable (matched
    without case, as pydantic-settings reads them), or the default.

    >>> p = argparse.ArgumentParser()
    >>> add_setting_flags(p)
    >>> s = setting_sources(p.parse_args(["--log-level", "DEBUG"]), {"streamscore_reasons": "off"})
    >>> s["log_level"], s["reasons"], s["topic_events"]
    ('flag', 'env', 'default')
    """
    flags = given_flags(args)
    env = {key.upper() for key in environ}
    out: dict[str, Source] = {}
    for name in Settings.model_fields:
        if name in flags:
            out[name] = "flag"
        elif f"STREAMSCORE_{name.upper()}" in env:
            out[name] = "env"
        else:
            out[name] = "default"
    return out


def help_width() -> int:
    """The terminal's width, at most :data:`MAX_WIDTH` (as argparse reads ``COLUMNS``)."""
    return min(MAX_WIDTH, shutil.get_terminal_size().columns - 2)


def settings_help(groups: Iterable[str], width: int | None = None) -> str:
    """The help text of ``groups``: each key setting on one line (its meaning, its
    default), the others by flag; settings in no group under "other"."""
    width = width or help_width()
    chosen = set(groups)
    shown = [g for g in GROUPS if g.name in chosen]
    placed = {s for g in GROUPS for s in g.settings}
    other = tuple(s for s in Settings.model_fields if s not in placed)
    if other and "other" not in chosen:
        shown.append(Group("other", "other", (), other))
    lines = ["settings (--<name> VALUE, or the variable STREAMSCORE_<NAME>; [default]):"]
    for group in shown:
        flags = " ".join("--" + n.replace("_", "-") for n in group.more)
        if not group.key:  # the flags follow the title
            lines += _wrap(f" {group.title}: {flags}", width)
            continue
        lines.append(f" {group.title}:")
        lines += [_key_line(name, width) for name in group.key]
        if flags:
            lines += _wrap(f"  also {flags}", width)
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False)


def _key_line(name: str, width: int) -> str:
    """``--name  [default] meaning``, cut to ``width``."""
    info = Settings.model_fields[name]
    default = info.get_default(call_default_factory=False)
    meaning = info.description or NOTES.get(name) or _choices(info.annotation)
    text = f"  --{name.replace('_', '-'):<22} [{default}] {meaning}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _choices(annotation: object) -> str:
    """``a, b or c`` for a Literal setting, else nothing."""
    values = [str(v) for v in get_args(annotation) if v is not None]
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else ""
