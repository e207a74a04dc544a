"""The command line's help and start-up: each command shows its own settings, fits a
screen, starts fast; `streamscore settings` says where each value came from."""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.cli import main, parser
from streams.cli.command_table import COMMANDS
from streams.cli.exit_codes import EXIT_STORE
from streams.cli.setting_flags import add_setting_flags, setting_sources
from streams.cli.setting_groups import ALL, GROUPS
from streams.config import Settings
from streams.feedback import health
from streams.ops.logs import MASK

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "COLUMNS": "100"}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *argv],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_setting_is_in_exactly_one_group() -> None:
    placed = [s for g in GROUPS for s in g.settings]
    assert sorted(placed) == sorted(Settings.model_fields), "place new settings in a group"


def test_every_command_names_known_groups() -> None:
    for name, spec in COMMANDS.items():
        assert set(spec.groups) <= set(ALL), name
        assert f"streamscore {name}" in spec.example, name


def test_score_help_fits_one_screen_and_shows_only_its_groups() -> None:
    proc = _run("score", "--help")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert len(lines) <= 50, len(lines)
    assert max(len(line) for line in lines) <= 100
    text = proc.stdout
    assert "--create-topics" in text and "--bootstrap-servers" in text
    assert "--review-threshold" in text and "--drift-psi-threshold" in text
    assert "example:\n  streamscore score " in text
    # the joiner's and the registry's settings are not the scorer's
    assert "--joiner-data-dir" not in text and "--gate-margin" not in text


def test_join_help_shows_the_joiners_settings_not_the_scorers() -> None:
    text = _run("join", "--help").stdout
    assert "--joiner-data-dir" in text and "--quality-window" in text
    assert "--review-threshold" not in text and "--batch-max-size" not in text


def test_a_setting_not_shown_is_still_accepted() -> None:
    args = parser().parse_args(["train", "--joiner-data-dir", "/x", "--events", "5"])
    assert args.setting_joiner_data_dir == "/x"


def test_nested_commands_take_settings() -> None:
    args = parser().parse_args(["dlq", "replay", "--dry-run", "--topic-dlq", "d"])
    assert args.setting_topic_dlq == "d" and args.dry_run
    args = parser().parse_args(["models", "list", "--model-dir", "m"])
    assert args.setting_model_dir == "m"


def test_root_help_lists_commands_and_exit_codes() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert f"    {name} " in proc.stdout or f"    {name}\n" in proc.stdout, name
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"\n  {code}" in proc.stdout


def test_the_joiners_exit_code_is_the_documented_one() -> None:
    assert health.EXIT_STORE == EXIT_STORE == 4


def test_bad_usage_exits_2() -> None:
    proc = _run("score", "--no-such-flag")
    assert proc.returncode == 2 and "--no-such-flag" in proc.stderr
    assert _run("no-such-command").returncode == 2


def _median_ms(*argv: str, runs: int = 9) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        assert _run(*argv).returncode == 0
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def test_help_starts_fast() -> None:
    assert _median_ms("--help") < 300
    assert _median_ms("score", "--help") < 300


def test_root_help_imports_no_command_nor_pydantic() -> None:
    code = (
        "import sys; from streams.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'numpy', 'confluent_kafka') or m.startswith('streams.config')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", ["top", "report"])
def test_view_commands_show_their_help(name: str) -> None:
    importlib.import_module(COMMANDS[name].module)
    proc = _run(name, "--help")
    assert proc.returncode == 0 and f"example:\n  {COMMANDS[name].example}" in proc.stdout


def test_settings_sources_and_masking(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMSCORE_TOPIC_EVENTS", "from-env")
    monkeypatch.setenv("STREAMSCORE_SSL_KEY_PASSWORD", "env-secret")
    assert main(["settings", "--review-threshold", "0.3", "--sasl-password", "hunter2"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["review_threshold"] == ["0.3", "flag"]
    assert rows["topic_events"] == ["from-env", "env"]
    assert rows["decline_threshold"] == ["0.6", "default"]
    assert rows["sasl_password"] == [MASK, "flag"]
    assert rows["ssl_key_password"] == [MASK, "env"]
    assert "hunter2" not in out and "env-secret" not in out
    assert len(rows) == len(Settings.model_fields)


def test_sources_match_without_case() -> None:
    p = argparse.ArgumentParser()
    add_setting_flags(p)
    sources = setting_sources(p.parse_args([]), {"Streamscore_Log_Level": "DEBUG"})
    assert sources["log_level"] == "env" and sources["metrics_port"] == "default"
