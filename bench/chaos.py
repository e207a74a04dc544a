"""Scorers and joiners SIGKILLed on a seeded schedule and the broker restarted, under a
steady stream of events and labels; then every output is checked (issue 26).

    .venv/bin/python -m bench.chaos --minutes 15    # the soak: >= 100 kills, 3 broker restarts
    .venv/bin/python -m bench.chaos --minutes 2 --kill-every 6 --broker-restarts 1

A real broker of its own (restarted on its data and port, SIGTERM and SIGKILL in turn),
``--scorers`` scorer and ``--joiners`` joiner processes, and a supervisor that restarts
any that exits, as an orchestrator does (exit 3, a wedged commit, is such a case). Kills
land at random points of the processors' work: mid-batch and mid-commit (the scorer
commits continuously at this rate), right after another kill (during the rebalance), and
right after a restart (during recovery). Prints the faults and the counts of
:mod:`bench.chaos_check` as a table and one JSON line; writes bench/results/chaos.json.
Exits 1 if anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.chaos_check import Outcome, check, expected_labels, labelled_found
from bench.harness import spawn
from streams.config import Settings
from streams.dev.generator import FeedbackSpec, GeneratorConfig, MessySpec, Record, generate
from streams.dev.local import fresh_settings, wait_until
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, end_total

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Processor:
    """One supervised process: ``python -m streams <command>`` with its own settings."""

    name: str
    command: str
    settings: Settings
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    exits: Counter[int] = field(default_factory=Counter)

    def start(self) -> None:
        """Start (again)."""
        self.proc = spawn(self.settings, self.command, log=self.log)
        self.started = time.monotonic()

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        """The running (or last) process."""
        assert self.proc is not None, "not started"
        return self.proc


class Supervisor:
    """Restarts what exits; kills on request (and restarts at once)."""

    def __init__(self, processors: list[Processor]) -> None:
        self.processors = processors
        self.kills: Counter[str] = Counter()
        self.restarts = 0

    def start(self) -> None:
        """Start every processor."""
        for p in self.processors:
            p.start()

    def tick(self) -> bool:
        """Restart every processor that exited by itself, recording its exit code; False
        (to chain it in a condition)."""
        for p in self.processors:
            code = p.popen.poll()
            if code is not None:
                p.exits[code] += 1
                self.restarts += 1
                p.start()
        return False

    def kill(self, p: Processor, moment: str) -> None:
        """SIGKILL ``p`` and start it again at once."""
        p.popen.send_signal(signal.SIGKILL)
        p.popen.wait(30)
        self.kills[moment] += 1
        p.start()

    def stop(self) -> None:
        """SIGTERM every processor; SIGKILL what has not ended in 30 s."""
        for p in self.processors:
            p.popen.terminate()
        for p in self.processors:
            try:
                p.popen.wait(30)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(30)


def _records(seed: int, count: int, rate: float) -> list[Record]:
    """Events (5% messy, for the DLQ) and labels for ~30% of them, due within seconds."""
    feedback = FeedbackSpec(delay_mean_s=2.0, unknown_fraction=0.0)
    config = GeneratorConfig(
        seed=seed,
        count=count,
        start_ms=int(time.time() * 1000),
        events_per_second=rate,
        messy=MessySpec(0.05),
        feedback=feedback,
    )
    return list(generate(config))


def _processors(settings: Settings, home: Path, scorers: int, joiners: int) -> list[Processor]:
    procs = []
    for i in range(scorers):
        s = settings.model_copy(
            update={"scorer_instance_id": f"{settings.scorer_instance_id}-s{i}"}
        )
        procs.append(Processor(f"scorer-{i}", "score", s, home / f"scorer-{i}.log"))
    for i in range(joiners):
        s = settings.model_copy(
            update={"joiner_data_dir": home / f"joiner-{i}", "joiner_instance_id": f"j{i}"}
        )
        procs.append(Processor(f"joiner-{i}", "join", s, home / f"joiner-{i}.log"))
    return procs


@dataclass
class Schedule:
    """The seeded fault schedule: kills every ``kill_every`` s on average, broker
    restarts spread evenly over the run."""

    rng: random.Random
    seconds: float
    kill_every: float
    broker_restarts: int
    broker_faults: Counter[str] = field(default_factory=Counter)

    def run(self, sup: Supervisor, broker: RealBroker, alive: Callable[[], bool]) -> None:
        """Inject faults until ``seconds`` have passed (or ``alive`` turns false)."""
        t0 = time.monotonic()
        restarts = [t0 + self.seconds * (i + 1) / (self.broker_restarts + 1)
                    for i in range(self.broker_restarts)]  # fmt: skip
        next_kill = t0 + self.rng.uniform(0.5, 1.5) * self.kill_every
        while time.monotonic() - t0 < self.seconds and alive():
            sup.tick()
            now = time.monotonic()
            if restarts and now >= restarts[0]:
                restarts.pop(0)
                kill = sum(self.broker_faults.values()) % 2 == 1  # SIGTERM first, then SIGKILL
                broker.restart(kill=kill)
                self.broker_faults["sigkill" if kill else "sigterm"] += 1
            elif now >= next_kill:
                self._kill(sup)
                next_kill = time.monotonic() + self.rng.uniform(0.5, 1.5) * self.kill_every
            time.sleep(0.05)  # the schedule's tick: pacing, not synchronisation

    def _kill(self, sup: Supervisor) -> None:
        procs, r = sup.processors, self.rng.random()
        if r < 0.25:  # the one restarted last: during its recovery
            sup.kill(max(procs, key=lambda p: p.started), "during recovery")
            return
        sup.kill(self.rng.choice(procs), "mid-stream")
        if r > 0.8:  # a second one while the group rebalances after the first
            time.sleep(self.rng.uniform(0.2, 1.0))  # the schedule's chosen point in it
            sup.kill(self.rng.choice(procs), "during a rebalance")


def _progress(settings: Settings) -> dict[str, tuple[int, int]]:
    """(committed, end) of each group on each input topic."""
    s = settings
    pairs = [(s.scorer_group_id, s.topic_events), (s.joiner_group_id, s.topic_scores),
             (s.joiner_group_id, s.topic_feedback)]  # fmt: skip
    return {f"{g} {t}": (committed_total(s, g, t), end_total(s, t)) for g, t in pairs}


def _await_outputs(settings: Settings, sup: Supervisor, labels: set[tuple[str, str]]) -> None:
    """Until the scorers have committed every event and every label is in ``labelled``
    (processors that exit are restarted meanwhile); the progress on a timeout."""
    s, checked = settings, [0.0]

    def labelled() -> bool:
        if time.monotonic() - checked[0] < 5.0:  # reading the topic is the costly part
            return False
        checked[0] = time.monotonic()
        return labels <= set(labelled_found(s))

    try:
        wait_until(
            lambda: (
                sup.tick()
                or committed_total(s, s.scorer_group_id, s.topic_events)
                >= end_total(s, s.topic_events)
            ),
            600,
            "the scorers to commit every event",
        )
        wait_until(lambda: sup.tick() or labelled(), 600, "every label in labelled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; committed/end: {_progress(s)}") from None


def _print(result: dict[str, object]) -> None:
    outcome: dict[str, int] = result["outcome"]  # type: ignore[assignment]
    print(f"\nchaos: {result['minutes']} min, seed {result['seed']}")
    print(f"  process kills     {result['kills']}")
    print(f"  broker restarts   {result['broker_restarts']}")
    print(f"  exits by code     {result['exits']} (restarted by the supervisor)")
    for name, value in outcome.items():
        print(f"  {name:<24}{value:>10,}")
    print(orjson.dumps(result).decode(), flush=True)


def run(args: argparse.Namespace, home: Path) -> dict[str, object]:
    """One chaos run in ``home``: the result (faults and outcome)."""
    rng = random.Random(args.seed)
    with RealBroker(home=home / "kafka") as broker:
        settings = fresh_settings(
            broker.bootstrap,
            "chaos",
            session_timeout_ms=6_000,  # the broker's minimum: a dead member's partitions move
            transaction_timeout_ms=10_000,  # a dead scorer's open transaction blocks readers
            broker_wait_s=120.0,  # a processor restarted while the broker is down waits
        )
        records = _records(args.seed, int(args.rate * args.minutes * 60), args.rate)
        sup = Supervisor(_processors(settings, home, args.scorers, args.joiners))
        sup.start()
        writer = threading.Thread(target=write_records, args=(settings, records, args.rate))
        writer.start()
        schedule = Schedule(rng, args.minutes * 60, args.kill_every, args.broker_restarts)
        try:
            schedule.run(sup, broker, writer.is_alive)
            writer.join(600)
            _await_outputs(settings, sup, expected_labels(records))
        finally:
            sup.stop()
        outcome: Outcome = check(settings, records)
    exits = Counter[int]()
    for p in sup.processors:
        exits.update(p.exits)
    flags = [f"--minutes {args.minutes:g}", f"--scorers {args.scorers}", f"--seed {args.seed}",
             f"--rate {args.rate:g}", f"--kill-every {args.kill_every:g}",
             f"--broker-restarts {args.broker_restarts}"]  # fmt: skip
    return {
        "command": "python -m bench.chaos " + " ".join(flags),
        "minutes": args.minutes,
        "seed": args.seed,
        "rate": args.rate,
        "scorers": args.scorers,
        "joiners": args.joiners,
        "kills": dict(sup.kills),
        "kills_total": sum(sup.kills.values()),
        "broker_restarts": dict(schedule.broker_faults),
        "broker_restarts_total": sum(schedule.broker_faults.values()),
        "exits": {str(k): v for k, v in sorted(exits.items())},
        "outcome": outcome.as_dict(),
    }


def parser() -> argparse.ArgumentParser:
    """The command line (the test's short variant uses it too)."""
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--scorers", type=int, default=3)
    p.add_argument("--joiners", type=int, default=2)
    p.add_argument("--seed", type=int, default=26)
    p.add_argument("--rate", type=float, default=300.0, help="events a second")
    p.add_argument("--kill-every", type=float, default=7.0, help="seconds between kills, mean")
    p.add_argument("--broker-restarts", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS / "chaos.json")
    p.add_argument("--home", type=Path, help="keep the broker's data and the logs here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run, print, write bench/results/chaos.json; 1 if anything was lost or duplicated."""
    args = parser().parse_args(argv)
    if args.home is not None:
        args.home.mkdir(parents=True, exist_ok=True)
        result = run(args, args.home)
    else:
        with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
            result = run(args, Path(tmp))
    _print(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if args.out == RESULTS / "chaos.json":
        from bench.report import write_report

        write_report()
    outcome = result["outcome"]
    assert isinstance(outcome, dict)
    return 1 if outcome["lost"] or outcome["duplicated"] else 0


if __name__ == "__main__":
    sys.exit(main())
