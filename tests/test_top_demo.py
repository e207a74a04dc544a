"""The demo shows ``streamscore top`` while it runs: not on a terminal (or with
``--no-live``) as plain lines, then its summary and check line as before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.cli import main
from streams.config import Settings
from streams.dev.demo import run_demo
from streams.dev.local import ROOT


def test_demo_prints_plain_top_lines_then_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(bootstrap_servers="embedded", model_dir=ROOT / "models")
    assert run_demo(settings, 3_000, 0.0, 7, live=False) == 0
    lines = capsys.readouterr().out.splitlines()
    top = [line for line in lines if line.startswith("top: ")]
    summary = lines.index(
        "streamscore demo: embedded broker (librdkafka mock cluster), at-least-once"
    )
    assert top and lines[: len(top)] == top  # the view's lines come before the summary
    assert summary == len(top)
    consumed = re.search(r"consumed ([\d,]+), scored ([\d,]+)", top[-1])
    assert consumed is not None and consumed.group(1) == "3,000"  # the last frame: all of it
    assert lines[-1] == (
        "  check: OK, every event is exactly one score or one dead letter, nothing dropped"
    )


def test_the_demo_command_ends_with_the_check_and_the_report_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "run.html"
    code = main(
        ["demo", "--count", "2000", "--rate", "0", "--no-live", "--report", str(out),
         "--model-dir", str(ROOT / "models")]
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[-2].startswith("  check: OK")
    assert lines[-1] == f"report: {out.resolve()}"
    page = out.read_text()
    assert page.count("<svg") >= 5 and "http://" not in page.replace("http://www.w3.org", "")
