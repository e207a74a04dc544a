"""The registry's audit log, ``models/HISTORY.jsonl``: one JSON object per change.

Each entry says when (ISO-8601 UTC), who, what (``action``: promote, rollback, retire,
shadow, canary, unshadow, canary_stopped), which ``version``, the ``previous``
champion, why, whether it was forced, the version's metrics and the gate's evidence.
Appended with one write on an ``O_APPEND`` file and fsync; a reader skips (and
reports) a torn line. Replaying it gives the champions' order (for rollback) and
the retired versions.

>>> champion_stack([{"action": "promote", "version": "v2", "previous": "v1"},
...                 {"action": "promote", "version": "v3", "previous": "v2"},
...                 {"action": "rollback", "version": "v2", "previous": "v3"}])
['v1', 'v2']
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from streams.errors import ModelError
from streams.model.registry import champion, manifest_of

log = logging.getLogger(__name__)

HISTORY_FILE = "HISTORY.jsonl"


def default_actor() -> str:
    """``user@host`` of this process."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def history_entry(action: str, version: str, **fields: Any) -> dict[str, Any]:
    """One audit record: time (ISO-8601 UTC), action and version first, then ``fields``.

    >>> sorted(history_entry("retire", "v2", actor="me")) == ["action", "actor", "time", "version"]
    True
    """
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    return {"time": now, "action": action, "version": version, **fields}


def append_history(model_dir: Path, entry: Mapping[str, Any]) -> None:
    """Append ``entry`` to ``HISTORY.jsonl`` with one write (O_APPEND) and fsync."""
    path = model_dir / HISTORY_FILE
    line = orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn last line stays alone on its line
            written = os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ModelError(f"cannot append to {path}: {exc}") from exc
    if written != len(line):
        raise ModelError(f"short write to {path}: {written} of {len(line)} bytes")


@dataclass(frozen=True)
class History:
    """The audit log's entries, oldest first, and the lines that were skipped."""

    entries: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)


def read_history(model_dir: Path) -> History:
    """Every readable entry of ``HISTORY.jsonl``; a torn or bad line is skipped and logged."""
    path = model_dir / HISTORY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return History([])
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    entries, skipped = [], []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            entry = None
        if isinstance(entry, dict) and "action" in entry and "version" in entry:
            entries.append(entry)
        else:
            skipped.append(f"{path} line {n}: not a complete entry (torn write?), skipped")
            log.warning(skipped[-1])
    return History(entries, skipped)


def champion_stack(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Champions in the order they took over, replaying promotions (push) and rollbacks (pop)."""
    stack: list[str] = []
    for e in entries:
        if e["action"] == "promote":
            if not stack and e.get("previous"):
                stack.append(e["previous"])
            stack.append(e["version"])
        elif e["action"] == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != e["version"]:
                stack.append(e["version"])
    return stack


def rollback_target(model_dir: Path, champ: str, entries: Sequence[Mapping[str, Any]]) -> str:
    """The champion before ``champ``: from the history, else its manifest's ``lineage.parent``."""
    stack = champion_stack(entries)
    if champ in stack:
        at = len(stack) - 1 - stack[::-1].index(champ)
        if at > 0:
            return stack[at - 1]
    parent = ((manifest_of(model_dir, champ) or {}).get("lineage") or {}).get("parent")
    if isinstance(parent, str) and parent:
        return parent
    raise ModelError(
        f"no version to roll back to: no champion before {champ} in {HISTORY_FILE} "
        "and its manifest names no lineage.parent"
    )


def retired_versions(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    """Versions retired and not brought back since (a forced promote, shadow, canary)."""
    retired: set[str] = set()
    for e in entries:
        if e["action"] == "retire":
            retired.add(e["version"])
        elif e["action"] in ("promote", "rollback", "shadow", "canary"):
            retired.discard(e["version"])
    return retired


def record_change(
    model_dir: Path,
    action: str,
    version: str,
    *,
    actor: str,
    reason: str | None,
    forced: bool = False,
    evidence: Mapping[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Append the entry of one registry change: who, why, whether forced, the champion
    before it (``previous``, default: the current one), the version's manifest metrics
    and the evidence."""
    manifest = manifest_of(model_dir, version) or {}
    entry = history_entry(
        action,
        version,
        actor=actor,
        previous=extra.pop("previous", champion(model_dir)),
        reason=reason,
        forced=forced,
        metrics=manifest.get("metrics"),
        evidence=evidence,
        **extra,
    )
    append_history(model_dir, entry)
