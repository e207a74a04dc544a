"""The model registry: a plain directory, no server (docs/models.md).

``models/<version>/`` holds a version (a directory with ``manifest.json``; names
starting with ``.`` are half-written by retrain and never versions). ``CURRENT``
names the champion; ``CHALLENGERS`` lists the versions the scorer also runs, one a
line: ``<version> shadow`` or ``<version> canary <fraction>`` (``#`` comments). Both
are replaced atomically. Every change is one JSON line of ``HISTORY.jsonl``
(:mod:`streams.model.history`).

>>> [(c.version, c.role, c.fraction) for c in parse_challengers("v2 shadow\\nv3 canary 0.1 # x")]
[('v2', 'shadow', 0.0), ('v3', 'canary', 0.1)]
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from streams.errors import ModelError
from streams.model.artifact import (
    CURRENT_POINTER,
    Model,
    current_version,
    load_model,
    read_check_sample,
    read_manifest,
)

CHALLENGERS_FILE = "CHALLENGERS"
MANIFEST = "manifest.json"
MAX_CANARY_FRACTION = 0.5


@dataclass(frozen=True)
class Challenger:
    """A version the scorer runs beside the champion: ``shadow`` (scores, never decides)
    or ``canary`` (decides ``fraction`` of the events)."""

    version: str
    role: Literal["shadow", "canary"]
    fraction: float = 0.0


def _version_key(name: str) -> list[Any]:
    # v2 before v10
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]


def versions(model_dir: Path) -> list[str]:
    """Every version under ``model_dir`` (a directory with a manifest), v2 before v10."""
    if not model_dir.is_dir():
        return []
    found = [
        d.name
        for d in model_dir.iterdir()
        if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST).is_file()
    ]
    return sorted(found, key=_version_key)


def verify(model_dir: Path, version: str) -> Model:
    """Load and check ``version`` without compiling it; ModelError saying why it is refused.

    Refused: half-written or missing directories, missing files, a bad manifest, a model
    file whose sha256 differs, features or event schema version other than the code's.
    """
    base = model_dir / version
    if not version or version.startswith(".") or "/" in version or version != base.name:
        raise ModelError(f"model {version!r} refused: not a version name (half-written?)")
    if not (base / MANIFEST).is_file():
        raise ModelError(f"model {version} refused: no {base / MANIFEST} (missing or half-written)")
    try:
        model = load_model(model_dir, version)
        read_check_sample(base)
    except ModelError as exc:
        raise ModelError(f"model {version} refused: {exc}") from exc
    named = model.manifest["model_version"]
    if named != version:
        raise ModelError(f"model {version} refused: its manifest names version {named!r}")
    return model


def manifest_of(model_dir: Path, version: str) -> dict[str, Any] | None:
    """The version's manifest, or None when it cannot be read (see :func:`verify`)."""
    try:
        return read_manifest(model_dir / version / MANIFEST)
    except ModelError:
        return None


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text``: a temporary file beside it, fsync, rename; ModelError."""
    try:
        _replace(path, text)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise ModelError(f"cannot write {path}: {exc}") from exc


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def champion(model_dir: Path) -> str | None:
    """The champion (``CURRENT``), or None when there is no pointer."""
    if not (model_dir / CURRENT_POINTER).exists():
        return None
    return current_version(model_dir) or None


def set_champion(model_dir: Path, version: str) -> None:
    """Point ``CURRENT`` at ``version`` (atomically; the scorer reloads it)."""
    write_atomic(model_dir / CURRENT_POINTER, version + "\n")


def _check_challengers(challengers: Sequence[Challenger], champ: str | None) -> str | None:
    seen: set[str] = set()
    for c in challengers:
        if c.version in seen:
            return f"{c.version} is listed twice"
        if c.version == champ:
            return f"{c.version} is the champion"
        if c.role == "canary" and not 0 < c.fraction <= MAX_CANARY_FRACTION:
            return f"canary fraction {c.fraction} is not in (0, {MAX_CANARY_FRACTION}]"
        if c.role == "canary" and any(o.role == "canary" for o in challengers if o != c):
            return f"{c.version} is a second canary (at most one)"
        seen.add(c.version)
    return None


def _parse_line(text: str) -> Challenger:
    parts = text.split()
    if len(parts) == 2 and parts[1] == "shadow":
        return Challenger(parts[0], "shadow")
    if len(parts) == 3 and parts[1] == "canary":
        try:
            return Challenger(parts[0], "canary", float(parts[2]))
        except ValueError:
            pass
    raise ValueError("expected '<version> shadow' or '<version> canary <fraction>'")


def parse_challengers(text: str, champ: str | None = None) -> list[Challenger]:
    """Challengers from the text of a ``CHALLENGERS`` file; ModelError naming the bad line."""
    out: list[Challenger] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(_parse_line(line))
        except ValueError as exc:
            raise ModelError(f"{CHALLENGERS_FILE} line {n} {raw.strip()!r}: {exc}") from exc
        problem = _check_challengers(out, champ)
        if problem:
            raise ModelError(f"{CHALLENGERS_FILE} line {n} {raw.strip()!r}: {problem}")
    return out


def read_challengers(model_dir: Path) -> list[Challenger]:
    """The challengers in ``<model_dir>/CHALLENGERS`` ([] without the file)."""
    path = model_dir / CHALLENGERS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return parse_challengers(text, champion(model_dir))


def write_challengers(model_dir: Path, challengers: Sequence[Challenger]) -> None:
    """Replace ``CHALLENGERS`` atomically; ModelError (nothing written) if they break a rule."""
    problem = _check_challengers(challengers, champion(model_dir))
    if problem:
        raise ModelError(f"challengers not written: {problem}")
    lines = ["# <version> shadow | <version> canary <fraction>; streamscore models writes this"]
    for c in challengers:
        lines.append(
            f"{c.version} shadow" if c.role == "shadow" else f"{c.version} canary {c.fraction!r}"
        )
    write_atomic(model_dir / CHALLENGERS_FILE, "\n".join(lines) + "\n")
