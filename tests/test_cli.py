"""The command line: clear, fast failures at start-up, and the flags map to settings."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_broker_fails_fast_with_a_clear_message() -> None:
    port = _closed_port()
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "streams", "score", "--bootstrap-servers", f"127.0.0.1:{port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "unreachable" in proc.stderr and f"127.0.0.1:{port}" in proc.stderr
    assert time.monotonic() - t0 < 60


def test_invalid_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--batch-max-size", "0"]) == 2
    assert "batch_max_size" in capsys.readouterr().err


def test_missing_model_fails_fast_on_the_embedded_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["score", "--model-dir", str(tmp_path), "--metrics-port", "0"])
    assert code == 1
    assert "no model pointer" in capsys.readouterr().err


def test_bad_generator_flags_are_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["produce", "--count", "5", "--drift-at", "2", "--drift-kind", "gradual"])
    assert code == 1
    assert "invalid generator flags" in capsys.readouterr().err


@pytest.mark.realbroker  # starts a Kafka JVM (and stops it when the time is up)
def test_broker_run_takes_a_start_timeout() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streams", "broker", "run", "--start-timeout", "0.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1
    assert "Kafka broker not ready in 0.5 s" in proc.stderr  # the 0.5, not the default 90


@pytest.mark.parametrize(
    ("flags", "host"), [([], "0.0.0.0"), (["--metrics-host", "127.0.0.1"], "127.0.0.1")]
)
def test_metrics_server_binds_metrics_host(flags: list[str], host: str) -> None:
    cmd = [sys.executable, "-m", "streams", "lag", "--serve", "0", *flags]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the server is bound
        assert f" on {host}:" in line, line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.0 200")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
