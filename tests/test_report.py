"""``streamscore report`` as a user sees it: the demo's run written to one HTML file,
rendered by headless Chromium; every plot is present and drawn, nothing is fetched,
and a screenshot is kept in ``test-artifacts/report.png``."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from streams.config import Settings
from streams.dev.demo import run_demo
from streams.dev.local import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
PLOTS = {"throughput", "latency", "lag", "score-distribution", "auc", "dead-letters"}
PLOTS |= {"drift-alerts", "feature-psi", "feature-amount", "feature-merchant_category"}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium missing: ./run test installs it")


def _chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM or "", *flags, *args], capture_output=True, timeout=120)


def _png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed image data of a PNG."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", raw[16:24])
    data, at = b"", 8
    while at < len(raw):
        (size,), kind = struct.unpack(">I", raw[at : at + 4]), raw[at + 4 : at + 8]
        if kind == b"IDAT":
            data += raw[at + 8 : at + 8 + size]
        at += size + 12
    return width, height, zlib.decompress(data)


@pytest.fixture(scope="module")
def report() -> Path:
    settings = Settings(bootstrap_servers="embedded", model_dir=ROOT / "models")
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "report.html"
    assert run_demo(settings, 12_000, 0.0, 7, drift_at=4_000, live=False, report_to=out) == 0
    return out


def test_every_plot_is_present_and_drawn_in_chromium(report: Path) -> None:
    done = _chromium("--virtual-time-budget=5000", "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout.decode()
    svgs = re.findall(r'<svg[^>]*data-plot="([^"]+)"[^>]*>(.*?)</svg>', dom, re.S)
    found = {plot: body for plot, body in svgs}
    assert found.keys() >= PLOTS, PLOTS - found.keys()
    for plot in PLOTS:
        body = found[plot]
        assert "no data" not in body, plot
        marks = re.findall(r"<(?:path|rect|circle|polyline|line)\b[^>]*>", body)
        drawn = [m for m in marks if 'width="0"' not in m and 'd=""' not in m]
        assert len(drawn) >= 3, plot  # a frame alone is not a plot
    assert not re.search(r'(?:src|href)="https?://', dom)  # self-contained


def test_a_screenshot_of_the_report_is_not_blank(report: Path) -> None:
    shot = ARTIFACTS / "report.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1200,3000", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    width, height, pixels = _png(shot)
    assert (width, height) == (1200, 3000)
    assert len(set(pixels[::97])) > 20  # lines, bars and text, not one colour
    print(f"screenshot: {shot}")
