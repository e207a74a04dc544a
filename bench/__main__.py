"""All the real-broker benchmarks with one command, as the figures in BENCHMARKS.md were made.

    .venv/bin/python -m bench                          # all of them: ~70 min
    .venv/bin/python -m bench latency memory           # just these

Each benchmark runs in its own process, one after another (never two at once: they
share the machine's two cores), starts its own broker, writes
``bench/results/<name>.json`` and regenerates ``BENCHMARKS.md``. Exits non-zero with the
first one that fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.harness import ROOT

COMMANDS: dict[str, list[str]] = {
    # the performance issue's scenario: a topic pre-filled with 1,000,000 events
    "throughput": [
        *("--events", "1000000", "--naive-events", "5000"),
        *("--framework-events", "50000", "--rounds", "5"),
    ],
    "latency": [],
    "memory": [],
    "joiner": [],
    "joiner_recovery": [],
    "system": [],
    "shadow": [],  # what each shadow challenger costs the scorer
    "joiner_shadow": [],  # in memory: what a shadow score costs the joiner's core
    "lifecycle": [],  # concept change -> alert -> retrained shadow -> gate
    "cbpe": [],  # in memory, no broker: the AUC estimate against realised AUC
    "online": [],  # in memory, no broker: River challengers around a concept change
    "restart_pause": [],  # a scorer SIGKILLed and restarted: static membership on and off
    "chaos": ["--minutes", "15"],  # process kills and broker restarts; nothing lost
    "junk_throughput": ["--hostile", "100000", "--mix", "1", "--mix", "0.1"],  # hostile input
    "burst": ["--factor", "10", "--factor", "20"],  # bursts over the steady rate: lag, RSS, p99
    "velocity_auc": [],  # in process: AUC with and without the velocity features
    "velocity_cost": [],  # in process: the velocity state per event, per account, restore
    "commit_cost": [],  # the scorer's commit by the partitions a transaction writes
    "velocity_restore": [],  # a restart's velocity restore: local checkpoints or Kafka
}


def main() -> int:
    """Run the named benchmarks (all by default) in order; the first failure's exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"of {', '.join(COMMANDS)} (default: all)")
    names = p.parse_args().names or list(COMMANDS)
    if unknown := [n for n in names if n not in COMMANDS]:
        p.error(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(COMMANDS)}")
    for name in names:
        cmd = [sys.executable, "-m", f"bench.{name}", *COMMANDS[name]]
        print("bench:", " ".join(cmd[1:]), flush=True)
        code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
        if code != 0:
            print(f"bench: {name} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
