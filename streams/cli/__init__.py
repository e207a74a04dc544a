"""The ``streamscore`` command line: the one entry point that builds Settings.

Every setting of :class:`streams.config.Settings` is a flag of every command
(``--bootstrap-servers``, ``--topic-events``, ...) and an environment variable
(``STREAMSCORE_BOOTSTRAP_SERVERS``, ...); flags win. A command's ``--help`` shows the
setting groups it uses (:mod:`streams.cli.command_table`).

Only the chosen command's module is imported, so ``streamscore --help`` loads neither
pydantic nor Kafka nor numpy (docs/cli.md has the start-up times).

>>> main(["train", "--events", "20000", "--version", "try"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from streams.cli.command_table import COMMANDS, Command
from streams.cli.exit_codes import (
    EPILOG as EXIT_CODES,
)
from streams.cli.exit_codes import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    EXIT_WEDGED,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

    from streams.config import Settings

__all__ = ["EXIT_WEDGED", "build_settings", "main", "parser"]


class CommandModule(Protocol):
    """What a command's module provides (:mod:`streams.cli.command_table`)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, settings: Settings, args: argparse.Namespace) -> int: ...


DESCRIPTION = """\
Real-time ML scoring and feedback on Kafka: validate each event, score it with a
LightGBM model, dead-letter what is invalid with the reason, watch drift, and join
later labels back onto the scores for retraining."""

EPILOG = f"""\
start here:
  streamscore demo                  the whole pipeline on an in-process broker
  streamscore topics create --bootstrap-servers kafka:9092
  streamscore score --bootstrap-servers kafka:9092
  streamscore join --bootstrap-servers kafka:9092
  streamscore <command> --help      a command's options and the settings it uses

Every setting is a flag of every command (--bootstrap-servers ...) and an environment
variable (STREAMSCORE_BOOTSTRAP_SERVERS ...); flags win. All of them with their values:
streamscore settings; reference: docs/settings.md; commands: docs/cli.md.

{EXIT_CODES}"""

COMMAND_EPILOG = """\
example:
  {example}

Shown: the settings `{name}` uses; it takes all (streamscore settings)."""


def parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``commands`` get their arguments (the others are a name
    and a help line, importing nothing); None: every command (tests, docs)."""
    root = argparse.ArgumentParser(
        prog="streamscore",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True, metavar="<command>")
    for name, spec in COMMANDS.items():
        if commands is None or name in commands:
            _add_command(sub, name, spec)
        else:
            sub.add_parser(name, help=spec.help)
    return root


def _add_command(sub: Any, name: str, spec: Command) -> None:
    from streams.cli.setting_flags import add_setting_flags, settings_help

    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=spec.help,
        description=spec.help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    try:
        module = cast(CommandModule, importlib.import_module(spec.module))
    except ModuleNotFoundError as exc:
        if exc.name != spec.module:  # a dependency of the module is missing: a bug
            raise
        p.set_defaults(run=_unavailable(name, spec.module))
        return
    module.add_arguments(p)
    epilog = settings_help(spec.groups) + "\n\n"
    epilog += COMMAND_EPILOG.format(example=spec.example, name=name)
    for leaf in _leaves(p):
        add_setting_flags(leaf)
        leaf.epilog = epilog
        leaf.formatter_class = argparse.RawDescriptionHelpFormatter
    p.set_defaults(run=module.run)


def _unavailable(name: str, module: str) -> Callable[[Settings, argparse.Namespace], int]:
    """The run of a command whose module is not in this build."""

    def run(_settings: Settings, _args: argparse.Namespace) -> int:
        print(f"streamscore: {name} is not available ({module} is missing)", file=sys.stderr)
        return EXIT_ERROR

    return run


def _leaves(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``p``, or the parsers of its sub-commands (``dlq replay``, ``models promote``)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield p
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):  # aliases map to one parser
            yield from _leaves(child)


def _chosen(argv: Sequence[str]) -> set[str]:
    """The command ``argv`` names (its first word that is not an option), if any."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return {first} if first in COMMANDS else set()


def build_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    from streams.cli.setting_flags import build_settings as build

    return build(args)


def _describe(exc: ValidationError) -> str:
    """One line per invalid setting, without the values given (they may be secrets)."""
    return "\n".join(
        f"  {'.'.join(str(part) for part in err['loc']) or 'settings'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; its exit code (:mod:`streams.cli.exit_codes`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(_chosen(argv)).parse_args(argv)
    from pydantic import ValidationError

    from streams.errors import StreamscoreError
    from streams.ops.logs import configure, secret_values

    try:
        settings = build_settings(args)
    except ValidationError as exc:
        print(f"streamscore: invalid settings:\n{_describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    configure(settings.log_level, secret_values(settings))
    try:
        return int(args.run(settings, args))
    except StreamscoreError as exc:
        import logging

        logging.getLogger("streams.cli").error("%s", exc)
        print(f"streamscore: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
