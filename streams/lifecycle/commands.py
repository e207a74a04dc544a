"""``streamscore models ...``: list, show, promote, rollback, retire, shadow, canary, unshadow.

Each change checks everything first and refuses (a one-line error, exit 1) with nothing
changed on disk; then it rewrites ``CHALLENGERS`` (a new champion leaves it first, so the
champion is never listed), then ``CURRENT``, then appends one ``HISTORY.jsonl`` entry.
The registry is imported when a command runs: building the parser stays light.

>>> main(["models", "promote", "v2", "--gate", "--reason", "better on March"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.config import Settings
from streams.errors import ModelError

if TYPE_CHECKING:
    from streams.model.registry import Challenger


@contextmanager
def _locked(model_dir: Path) -> Iterator[None]:
    """One registry change at a time on this host: a lock on the directory itself."""
    try:
        fd = os.open(model_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ModelError(f"no model directory {model_dir}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _record(
    settings: Settings, action: str, version: str, args: argparse.Namespace, **extra: Any
) -> None:
    from streams.model import history as hist

    hist.record_change(
        settings.model_dir,
        action,
        version,
        actor=settings.actor or hist.default_actor(),
        reason=getattr(args, "reason", None),
        forced=bool(getattr(args, "force", False)),
        **extra,
    )


def _retired(model_dir: Path) -> set[str]:
    from streams.model import history as hist

    return hist.retired_versions(hist.read_history(model_dir).entries)


def _usable(settings: Settings, version: str, force: bool) -> None:
    """Refuse a version that cannot be loaded, or a retired one unless forced."""
    from streams.model import registry as reg

    reg.verify(settings.model_dir, version)
    if not force and version in _retired(settings.model_dir):
        raise ModelError(f"model {version} is retired (--force to use it anyway)")


def _without(challengers: list[Challenger], version: str) -> list[Challenger]:
    return [c for c in challengers if c.version != version]


def _make_champion(
    settings: Settings, version: str, action: str, args: argparse.Namespace, **extra: Any
) -> None:
    from streams.model import registry as reg

    model_dir = settings.model_dir
    previous = reg.champion(model_dir)
    challengers = reg.read_challengers(model_dir)
    if any(c.version == version for c in challengers):
        reg.write_challengers(model_dir, _without(challengers, version))
    reg.set_champion(model_dir, version)
    _record(settings, action, version, args, previous=previous, **extra)
    print(f"{action}: {version} is the champion (was {previous})")


def cmd_promote(settings: Settings, args: argparse.Namespace) -> int:
    """``models promote V [--gate] [--force] [--reason TEXT]``."""
    from streams.lifecycle.evidence import collect_evidence
    from streams.model import registry as reg

    version, champ = args.version, reg.champion(settings.model_dir)
    if version == champ:
        raise ModelError(f"model {version} is already the champion")
    with _locked(settings.model_dir):
        _usable(settings, version, args.force)
        reg.read_challengers(settings.model_dir)  # a malformed file is fixed by hand first
        evidence = None
        if args.gate:
            if champ is None:
                raise ModelError("no champion (models/CURRENT) to gate against")
            found = collect_evidence(settings, champ, version)
            print(found.render())
            if not found.passed and not args.force:
                raise ModelError(
                    f"promotion of {version} refused by the gate (--force to override)"
                )
            evidence = found.as_dict()
        _make_champion(settings, version, "promote", args, evidence=evidence)
    return 0


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    """``models rollback [--reason TEXT]``: back to the champion before this one."""
    from streams.model import history as hist
    from streams.model import registry as reg

    with _locked(settings.model_dir):
        champ = reg.champion(settings.model_dir)
        if champ is None:
            raise ModelError("no champion (models/CURRENT) to roll back from")
        entries = hist.read_history(settings.model_dir).entries
        target = hist.rollback_target(settings.model_dir, champ, entries)
        _usable(settings, target, args.force)
        reg.read_challengers(settings.model_dir)
        _make_champion(settings, target, "rollback", args)
    return 0


def cmd_retire(settings: Settings, args: argparse.Namespace) -> int:
    """``models retire V``: never the champion; it leaves CHALLENGERS."""
    from streams.model import registry as reg

    model_dir, version = settings.model_dir, args.version
    with _locked(model_dir):
        if version.startswith(".") or not (model_dir / version).is_dir():
            raise ModelError(f"no model version {version} in {model_dir}")
        if version == reg.champion(model_dir):
            raise ModelError(f"model {version} is the champion: promote or roll back first")
        if version in _retired(model_dir):
            raise ModelError(f"model {version} is already retired")
        challengers = reg.read_challengers(model_dir)
        if any(c.version == version for c in challengers):
            reg.write_challengers(model_dir, _without(challengers, version))
        _record(settings, "retire", version, args)
    print(f"retired {version}")
    return 0


def _set_challenger(settings: Settings, args: argparse.Namespace, new: Challenger) -> None:
    from streams.model import registry as reg

    model_dir = settings.model_dir
    with _locked(model_dir):
        if new.version == reg.champion(model_dir):
            raise ModelError(f"model {new.version} is the champion")
        _usable(settings, new.version, args.force)
        current = reg.read_challengers(model_dir)
        if new in current:
            raise ModelError(f"model {new.version} is already a {new.role} challenger")
        canary = [c.version for c in current if c.role == "canary" and c.version != new.version]
        if new.role == "canary" and canary:
            raise ModelError(
                f"{canary[0]} is the canary: `streamscore models unshadow {canary[0]}` first"
            )
        challengers = [*_without(current, new.version), new]
        reg.write_challengers(model_dir, challengers)
        extra = {"fraction": new.fraction} if new.role == "canary" else {}
        _record(settings, new.role, new.version, args, **extra)
    print(
        f"{new.version} is a {new.role} challenger"
        + (f" on {new.fraction:.1%} of events" if extra else "")
    )
    if len(challengers) > settings.challengers_max:
        print(
            f"note: the scorer runs at most challengers_max={settings.challengers_max} of the "
            f"{len(challengers)} challengers",
            file=sys.stderr,
        )


def cmd_shadow(settings: Settings, args: argparse.Namespace) -> int:
    """``models shadow V``: V scores every event beside the champion, never deciding."""
    from streams.model.registry import Challenger

    _set_challenger(settings, args, Challenger(args.version, "shadow"))
    return 0


def cmd_canary(settings: Settings, args: argparse.Namespace) -> int:
    """``models canary V --fraction F``: V decides a fraction F (<= 0.5) of the events."""
    from streams.model.registry import MAX_CANARY_FRACTION, Challenger

    if not 0 < args.fraction <= MAX_CANARY_FRACTION:
        raise ModelError(f"canary fraction {args.fraction} is not in (0, {MAX_CANARY_FRACTION}]")
    _set_challenger(settings, args, Challenger(args.version, "canary", args.fraction))
    return 0


def cmd_unshadow(settings: Settings, args: argparse.Namespace) -> int:
    """``models unshadow V``: V is no longer a challenger (shadow or canary)."""
    from streams.model import registry as reg

    model_dir, version = settings.model_dir, args.version
    with _locked(model_dir):
        current = reg.read_challengers(model_dir)
        found = [c for c in current if c.version == version]
        if not found:
            raise ModelError(f"model {version} is not a challenger")
        reg.write_challengers(model_dir, _without(current, version))
        _record(
            settings, "unshadow" if found[0].role == "shadow" else "canary_stopped", version, args
        )
    print(f"{version} is no longer a challenger")
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    """``models list``: see :func:`streams.lifecycle.listing.list_versions`."""
    from streams.lifecycle.listing import list_versions

    return list_versions(settings, args)


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    """``models show V [--json]``: see :func:`streams.lifecycle.listing.show_version`."""
    from streams.lifecycle.listing import show_version

    return show_version(settings, args)


def cmd_autopilot(settings: Settings, _args: argparse.Namespace) -> int:
    """``models autopilot``: runs until SIGTERM/SIGINT (:mod:`streams.lifecycle.autopilot`)."""
    import threading

    from streams.kafka.runtime import install_stop_signals
    from streams.lifecycle.autopilot import run_autopilot

    stop = threading.Event()
    install_stop_signals(stop)
    return run_autopilot(settings, stop)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``streamscore models``'s sub-commands (the CLI adds the settings flags to each)."""
    models = parser.add_subparsers(dest="models_command", required=True)

    def add(
        name: str, handler: Any, text: str, version: bool = True, force: bool = False
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = models.add_parser(name, help=text, description=text)
        if version:
            p.add_argument("version", help="a directory under model_dir")
        if name not in ("list", "show"):
            p.add_argument("--reason", default=None, help="why (recorded in HISTORY.jsonl)")
        if force:
            p.add_argument("--force", action="store_true", help="past a failed gate or retirement")
        p.set_defaults(models_handler=handler)
        return p

    add("list", cmd_list, "versions: role, created, parent, holdout AUC, ok or why not", False)
    add("show", cmd_show, "a version's manifest, lineage and history").add_argument(
        "--json", action="store_true", help="as JSON"
    )
    add("promote", cmd_promote, "make V the champion (models/CURRENT)", force=True).add_argument(
        "--gate", action="store_true", help="only if V beats the champion on the same labels"
    )
    add("rollback", cmd_rollback, "back to the previous champion", False, force=True)
    add("retire", cmd_retire, "V is not used again without --force")
    add("shadow", cmd_shadow, "V scores beside the champion, never deciding", force=True)
    add("canary", cmd_canary, "V decides a fraction of the events", force=True).add_argument(
        "--fraction", type=float, required=True, help="0 < F <= 0.5"
    )
    add("unshadow", cmd_unshadow, "V stops being a challenger (shadow or canary)")
    add(
        "autopilot",
        cmd_autopilot,
        "a concept-drift alert -> retrain -> shadow (never promotes)",
        False,
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the chosen ``models`` sub-command."""
    return int(args.models_handler(settings, args))
