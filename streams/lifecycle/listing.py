"""``streamscore models list`` and ``models show V``: the registry for people (or ``--json``).

>>> print(_table([["version", "role"], ["v1", "champion"]]))
version  role
v1       champion
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from streams.config import Settings
from streams.errors import ModelError
from streams.model import history as hist
from streams.model import registry as reg


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _roles(model_dir: Path, history: list[dict[str, Any]]) -> dict[str, str]:
    try:
        challengers = reg.read_challengers(model_dir)
    except ModelError as exc:
        print(f"warning: {exc}")
        challengers = []
    roles = {v: "retired" for v in hist.retired_versions(history)}
    for c in challengers:
        roles[c.version] = "shadow" if c.role == "shadow" else f"canary {c.fraction:g}"
    champ = reg.champion(model_dir)
    if champ is not None:
        roles[champ] = "champion"
    return roles


def _status(model_dir: Path, version: str) -> str:
    try:
        reg.verify(model_dir, version)
    except ModelError as exc:
        return f"corrupt: {str(exc).removeprefix(f'model {version} refused: ')}"
    return "ok"


def _summary(manifest: dict[str, Any] | None) -> tuple[str, str, str]:
    """created_at, parent, holdout AUC (``?`` when unreadable)."""
    if manifest is None:
        return "?", "?", "?"
    parent = (manifest.get("lineage") or {}).get("parent") or "-"
    return manifest["created_at"], str(parent), f"{manifest['metrics']['holdout_auc']:.4f}"


def list_versions(settings: Settings, _args: argparse.Namespace) -> int:
    """Every version: role, created_at, parent, holdout AUC, ok or why it is refused."""
    model_dir = settings.model_dir
    history = hist.read_history(model_dir).entries
    roles = _roles(model_dir, history)
    rows = [["version", "role", "created_at", "parent", "holdout_auc", "status"]]
    for version in reg.versions(model_dir):
        summary = _summary(reg.manifest_of(model_dir, version))
        rows.append([version, roles.get(version, "-"), *summary, _status(model_dir, version)])
    print(_table(rows) if len(rows) > 1 else f"no model versions in {model_dir}")
    return 0


def _describe(version: str, role: str, status: str, m: dict[str, Any]) -> list[str]:
    t, metrics = m["training"], m["metrics"]
    features = [f["name"] for f in m["features"]]
    return [
        f"version       {version} ({role}, {status})",
        f"created_at    {m['created_at']}",
        f"model file    {m['model_file']} sha256 {m['model_sha256']}",
        f"event schema  v{m['event_schema_version']}",
        f"features      {len(features)}: {', '.join(features)}",
        f"training      {t['events']} events, {t['train_rows']} train / {t['holdout_rows']} "
        f"holdout rows, {t.get('num_trees', '-')} trees, event time {t['event_time_min']}.."
        f"{t['event_time_max']} ms",
        "metrics       " + ", ".join(f"{k} {v}" for k, v in metrics.items()),
        "lineage       "
        + (", ".join(f"{k} {v}" for k, v in (m.get("lineage") or {}).items()) or "-"),
        "libraries     " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
    ]


def _history_line(e: dict[str, Any]) -> str:
    parts = [e.get("time", "?"), e["action"], f"by {e.get('actor', '?')}"]
    parts.append(f"(previous champion {e.get('previous')})")
    if e.get("forced"):
        parts.append("FORCED")
    if e.get("evidence"):
        ev = e["evidence"]
        parts.append(f"gate {'passed' if ev.get('passed') else 'failed'}: {ev.get('reason')}")
    if e.get("reason"):
        parts.append(f"- {e['reason']}")
    return "  " + " ".join(str(p) for p in parts)


def show_version(settings: Settings, args: argparse.Namespace) -> int:
    """A version's manifest summary, lineage and history entries (``--json``: as JSON)."""
    model_dir, version = settings.model_dir, args.version
    history = hist.read_history(model_dir).entries
    mine = [e for e in history if e["version"] == version]
    if not (model_dir / version).is_dir() and not mine:
        raise ModelError(f"no model version {version} in {model_dir}")
    manifest = reg.manifest_of(model_dir, version)
    role = _roles(model_dir, history).get(version, "-")
    status = _status(model_dir, version)
    if args.json:
        shown = {k: v for k, v in (manifest or {}).items() if k != "reference"}
        doc = {"version": version, "role": role, "status": status, "manifest": shown}
        print(orjson.dumps({**doc, "history": mine}, option=orjson.OPT_INDENT_2).decode())
        return 0
    if manifest is None:
        lines = [f"version       {version} ({role}, {status})"]
    else:
        lines = _describe(version, role, status, manifest)
    lines.append("history" + ("" if mine else "       -"))
    lines.extend(_history_line(e) for e in mine)
    print("\n".join(lines))
    return 0
