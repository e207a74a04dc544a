"""The model registry and ``streamscore models``: refusals change nothing, pointers are
written atomically, every change leaves exactly one audit entry, rollback replays them."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.cli import main
from streams.dev.models import copy_version as add_version
from streams.errors import ModelError
from streams.model import history as hist
from streams.model import registry as reg
from streams.model.registry import Challenger

FIELDS = {"time", "actor", "action", "version", "previous", "reason", "forced", "metrics"}


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    for name in ("v1", "v2", "v3"):
        add_version(model_dir, name)
    (model_dir / "CURRENT").write_text("v1\n")
    return model_dir


Run = Callable[..., int]


@pytest.fixture()
def run(models: Path) -> Run:
    def go(*argv: str) -> int:
        return main(["models", *argv, "--model-dir", str(models), "--actor", "tester"])

    return go


def snapshot(model_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(model_dir)): p.read_bytes() for p in model_dir.rglob("*") if p.is_file()
    }


def history(model_dir: Path) -> list[dict[str, Any]]:
    return hist.read_history(model_dir).entries


def last_error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("streamscore: ")]
    assert len(lines) == 1
    return lines[0]


def _corrupt_bytes(d: Path) -> None:
    blob = bytearray((d / "model.txt").read_bytes())
    blob[-10] ^= 1
    (d / "model.txt").write_bytes(bytes(blob))


def _features(d: Path) -> None:
    doc = orjson.loads((d / "manifest.json").read_bytes())
    doc["features"][0], doc["features"][1] = doc["features"][1], doc["features"][0]
    (d / "manifest.json").write_bytes(orjson.dumps(doc))


def _schema_version(d: Path) -> None:
    doc = orjson.loads((d / "manifest.json").read_bytes())
    doc["event_schema_version"] = 99
    (d / "manifest.json").write_bytes(orjson.dumps(doc))


def _named_other(d: Path) -> None:
    doc = orjson.loads((d / "manifest.json").read_bytes())
    doc["model_version"] = "v7"
    (d / "manifest.json").write_bytes(orjson.dumps(doc))


BREAK: dict[str, tuple[Callable[[Path], None], str]] = {
    "sha256": (_corrupt_bytes, "sha256"),
    "features": (_features, "features"),
    "schema": (_schema_version, "event schema"),
    "model file": (lambda d: (d / "model.txt").unlink(), "cannot read model file"),
    "manifest": (lambda d: (d / "manifest.json").unlink(), "half-written"),
    "bad manifest": (lambda d: (d / "manifest.json").write_text("{"), "cannot read"),
    "check sample": (lambda d: (d / "check_sample.json").unlink(), "check sample"),
    "named": (_named_other, "names version 'v7'"),
}


@pytest.mark.parametrize("kind", sorted(BREAK))
@pytest.mark.parametrize("command", [["promote"], ["shadow"], ["canary", "--fraction", "0.1"]])
def test_a_broken_version_is_refused_and_nothing_changes(
    models: Path, run: Run, capsys: pytest.CaptureFixture[str], kind: str, command: list[str]
) -> None:
    damage, message = BREAK[kind]
    damage(models / "v2")
    before = snapshot(models)
    assert run(command[0], "v2", *command[1:], "--force") == 1
    err = last_error(capsys)
    assert "v2 refused" in err and message in err
    assert snapshot(models) == before


def test_half_written_directories_are_not_versions(models: Path, run: Run) -> None:
    shutil.copytree(models / "v3", models / ".incoming-v4-123")
    (models / "v9").mkdir()  # no manifest yet
    add_version(models, "v10")
    assert reg.versions(models) == ["v1", "v2", "v3", "v10"]
    before = snapshot(models)
    assert run("promote", ".incoming-v4-123") == 1
    assert run("shadow", "v9") == 1
    assert snapshot(models) == before


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("v2", 1, "expected"),
        ("# c\n\nv2 canary", 3, "expected"),
        ("v2 canary x", 1, "expected"),
        ("v2 shade", 1, "expected"),
        ("v2 canary 0.7", 1, "not in (0, 0.5]"),
        ("v2 canary 0", 1, "not in (0, 0.5]"),
        ("v2 shadow\nv2 shadow", 2, "twice"),
        ("v2 canary 0.1\nv3 canary 0.2", 2, "second canary"),
        ("v1 shadow", 1, "champion"),
    ],
)
def test_challengers_parse_errors_name_the_line(
    models: Path, text: str, line: int, why: str
) -> None:
    (models / "CHALLENGERS").write_text(text + "\n")
    with pytest.raises(ModelError, match=rf"CHALLENGERS line {line} .*{re.escape(why)}"):
        reg.read_challengers(models)


def test_challengers_round_trip(models: Path) -> None:
    assert reg.read_challengers(models) == []
    (models / "CHALLENGERS").write_text("# comment\n\n v2 shadow  # trailing\nv3 canary 0.25\n")
    expected = [Challenger("v2", "shadow"), Challenger("v3", "canary", 0.25)]
    assert reg.read_challengers(models) == expected
    reg.write_challengers(models, list(reversed(expected)))
    assert reg.read_challengers(models) == list(reversed(expected))
    before = snapshot(models)
    with pytest.raises(ModelError, match="champion"):
        reg.write_challengers(models, [Challenger("v1", "shadow")])
    assert snapshot(models) == before


def test_atomic_writes_leave_no_temporary_files(
    models: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("shadow", "v2") == 0
    assert run("canary", "v3", "--fraction", "0.1") == 0
    assert run("promote", "v2") == 0
    assert sorted(p.name for p in models.iterdir() if p.name.startswith(".")) == []

    def fail(_src: Any, _dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ModelError, match="disk full"):
        reg.set_champion(models, "v3")
    assert reg.champion(models) == "v2"
    assert sorted(p.name for p in models.iterdir() if p.name.startswith(".")) == []


def test_every_command_leaves_exactly_one_complete_entry(models: Path, run: Run) -> None:
    steps: list[tuple[list[str], str | None, str, str]] = [  # argv, action, version, previous
        (["shadow", "v2", "--reason", "try it"], "shadow", "v2", "v1"),
        (["canary", "v3", "--fraction", "0.05"], "canary", "v3", "v1"),
        (["unshadow", "v3"], "canary_stopped", "v3", "v1"),
        (["promote", "v2", "--reason", "better"], "promote", "v2", "v1"),
        (["unshadow", "v2"], None, "", ""),  # refused: the champion left CHALLENGERS
        (["retire", "v3"], "retire", "v3", "v2"),
        (["rollback"], "rollback", "v1", "v2"),
        (["shadow", "v3", "--force"], "shadow", "v3", "v1"),
        (["unshadow", "v3"], "unshadow", "v3", "v1"),
    ]
    for argv, action, version, previous in steps:
        before = len(history(models))
        assert run(*argv) == (0 if action else 1), argv
        entries = history(models)
        assert len(entries) == before + (1 if action else 0)
        if action is None:
            continue
        e = entries[-1]
        assert e.keys() >= FIELDS and "evidence" in e
        assert (e["action"], e["version"], e["previous"]) == (action, version, previous)
        assert e["actor"] == "tester" and e["forced"] == ("--force" in argv)
        assert datetime.fromisoformat(e["time"]).utcoffset() is not None
        assert e["metrics"]["holdout_auc"] > 0.9
    assert history(models)[0]["reason"] == "try it"
    assert history(models)[1]["fraction"] == 0.05 and "fraction" not in history(models)[2]


def test_promote_removes_the_new_champion_from_challengers(models: Path, run: Run) -> None:
    assert run("shadow", "v2") == 0
    assert run("shadow", "v3") == 0
    assert run("promote", "v2") == 0
    assert reg.champion(models) == "v2"
    assert reg.read_challengers(models) == [Challenger("v3", "shadow")]


def test_rollback_replays_the_history(
    models: Path, run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("promote", "v2") == 0
    assert run("promote", "v3") == 0
    assert run("rollback") == 0
    assert reg.champion(models) == "v2"
    assert run("rollback", "--reason", "v2 misbehaves") == 0
    assert reg.champion(models) == "v1"
    before = snapshot(models)
    capsys.readouterr()
    assert run("rollback") == 1
    assert "no version to roll back to" in last_error(capsys)
    assert snapshot(models) == before


LINEAGE = {
    "parent": "v2",
    "source": {"topic": "labelled", "partitions": [], "since": None, "until": None},
    "label_counts": {
        "records": 0, "events": 0, "positives": 0, "negatives": 0, "corrections": 0, "skipped": {}
    },
    "holdout": {
        "rows": 1, "start_time": 0, "new": {"auc": 0.9, "log_loss": 0.1},
        "parent": {"auc": 0.9, "log_loss": 0.1},
    },
}  # fmt: skip


def test_rollback_without_history_goes_to_the_lineage_parent(models: Path, run: Run) -> None:
    add_version(models, "v4", lineage=LINEAGE)
    (models / "CURRENT").write_text("v4\n")  # set by hand: no promotion in the history
    assert run("rollback") == 0
    assert reg.champion(models) == "v2"
    assert history(models)[-1]["previous"] == "v4"


def test_retire(models: Path, run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("retire", "v1") == 1  # the champion
    assert "champion" in last_error(capsys)
    assert run("shadow", "v2") == 0
    assert run("retire", "v2", "--reason", "leaks a feature") == 0
    assert reg.read_challengers(models) == []
    before = snapshot(models)
    for argv in (["promote", "v2"], ["shadow", "v2"], ["canary", "v2", "--fraction", "0.1"]):
        capsys.readouterr()
        assert run(*argv) == 1
        assert "retired" in last_error(capsys)
    assert run("retire", "v2") == 1  # already
    assert snapshot(models) == before
    assert run("promote", "v2", "--force", "--reason", "checked by hand") == 0
    assert history(models)[-1]["forced"] is True
    assert "v2" not in hist.retired_versions(history(models))


def test_canary_rules(models: Path, run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(models)
    assert run("canary", "v2", "--fraction", "0.6") == 1
    assert "not in (0, 0.5]" in last_error(capsys)
    assert snapshot(models) == before
    assert run("canary", "v2", "--fraction", "0.1") == 0
    capsys.readouterr()
    assert run("canary", "v3", "--fraction", "0.1") == 1
    assert "v2 is the canary" in last_error(capsys)
    assert run("shadow", "v2") == 0  # the canary becomes a shadow
    assert reg.read_challengers(models) == [Challenger("v2", "shadow")]
    assert run("shadow", "v1") == 1 and run("unshadow", "v3") == 1


def test_a_torn_last_line_is_skipped_and_reported(models: Path, run: Run) -> None:
    assert run("shadow", "v2") == 0
    with open(models / "HISTORY.jsonl", "ab") as f:
        f.write(b'{"time": "2026-')
    read = hist.read_history(models)
    assert len(read.entries) == 1 and "line 2" in read.skipped[0]
    assert run("unshadow", "v2") == 0  # appends on a line of its own
    read = hist.read_history(models)
    assert [e["action"] for e in read.entries] == ["shadow", "unshadow"]
    assert len(read.skipped) == 1


def test_list_and_show(models: Path, run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    _corrupt_bytes(models / "v3")
    assert run("canary", "v2", "--fraction", "0.1", "--reason", "first look") == 0
    capsys.readouterr()
    assert run("list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["version", "role", "created_at", "parent", "holdout_auc", "status"]
    assert lines[1].split()[:2] == ["v1", "champion"] and lines[1].endswith("ok")
    assert lines[2].split()[:3] == ["v2", "canary", "0.1"]
    assert "corrupt:" in lines[3] and "sha256" in lines[3]
    assert run("show", "v2") == 0
    out = capsys.readouterr().out
    assert "v2 (canary 0.1, ok)" in out and "canary by tester" in out and "first look" in out
    assert run("show", "v2", "--json") == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["manifest"]["model_version"] == "v2" and "reference" not in doc["manifest"]
    assert [e["action"] for e in doc["history"]] == ["canary"]
    assert run("show", "v8") == 1
