"""The compose stack is a valid Compose file wiring Kafka, scorer, joiner and Prometheus."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    assert probe.returncode == 0, "no Compose client: ./run test installs Debian's docker-compose"
    return ["docker", "compose"]


def test_compose_file_is_valid_and_has_the_stack() -> None:
    cmd = _compose()
    subprocess.run([*cmd, "config", "-q"], cwd=ROOT, check=True)
    services = subprocess.run(
        [*cmd, "config", "--services"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert sorted(services) == ["grafana", "joiner", "kafka", "prometheus", "scorer"]
    rendered = subprocess.run(
        [*cmd, "config"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    assert rendered.count("STREAMSCORE_BOOTSTRAP_SERVERS: kafka:9092") == 2  # scorer and joiner
