"""The model loop end to end on the real broker: events with a concept change → scores →
feedback → labelled → ``streamscore retrain`` → the new version in shadow → the gate
promotes it once labels show it better → the scorer switches at a batch boundary →
rollback restores the parent the same way. Every event is scored exactly once.

The scorer and the joiner run as their own processes (``streamscore score``,
``streamscore join``); the lifecycle steps are the commands a user types.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import child_env, isolated_settings, wait_for

from streams.config import Settings
from streams.contract.schemas import validator
from streams.dev.generator import DriftSpec, FeedbackSpec, GeneratorConfig, Record, generate
from streams.dev.models import copy_version
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import committed_total, read_topic
from streams.model.history import read_history
from streams.model.registry import read_challengers

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
HOUR_MS = 3_600_000
T0 = 1_767_225_600_000  # the generator's default start


@pytest.fixture()
def settings(real_broker: RealBroker, tmp_path: Path) -> Settings:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(ROOT / "models" / "v1", models / "v1")
    (models / "CURRENT").write_text("v1\n")
    return isolated_settings(
        real_broker.bootstrap,
        topic_partitions=3,
        model_dir=models,
        challengers_max=1,
        model_reload_s=0.5,
        gate_min_labels=1_000,
        transaction_timeout_ms=10_000,
        joiner_data_dir=tmp_path / "joiner",
        compiled_model_dir=ROOT / "var" / "compiled",
        actor="e2e-test",
    )


def _process(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams", *args], env=child_env(settings), cwd=ROOT
    )


@pytest.fixture()
def running(settings: Settings) -> Iterator[None]:
    """The scorer and the joiner, stopped (SIGTERM) after the test."""
    procs = [_process(settings, "score"), _process(settings, "join")]
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env=child_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _phase(seed: int, count: int, start_ms: int, labelled: bool = True) -> list[Record]:
    """Generated events after the concept change (and their feedback, labels soon after)."""
    config = GeneratorConfig(
        seed=seed,
        count=count,
        start_ms=start_ms,
        drift=(DriftSpec(0, concept=True),),
        feedback=FeedbackSpec(delay_mean_s=5.0, duplicate_fraction=0, unknown_fraction=0)
        if labelled
        else None,
    )
    return list(generate(config))


def _send(settings: Settings, records: list[Record]) -> list[str]:
    write_records(settings, records, rate=0)
    return [orjson.loads(r.value)["event_id"] for r in records if r.topic == "events"]


def _wait_scored(settings: Settings, events: int) -> None:
    """Until the scorer has committed ``events`` input offsets (events carry no markers)."""
    group, topic = settings.scorer_group_id, settings.topic_events
    wait_for(lambda: committed_total(settings, group, topic) >= events, 60, "the scores")


def _labelled_ids(settings: Settings) -> set[str]:
    return {
        orjson.loads(r.value)["event_id"] for r in read_topic(settings, settings.topic_labelled)
    }


def _shadow(settings: Settings) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in read_topic(settings, settings.topic_scores_shadow)]


class Stream(threading.Thread):
    """Events of one phase produced in chunks until stopped, so a switch happens mid-stream."""

    def __init__(self, settings: Settings, seed: int, start_ms: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.seed, self.start_ms = settings, seed, start_ms
        self.ids: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        chunk = 0
        while not self.stopping.is_set():
            records = _phase(self.seed * 1000 + chunk, 500, self.start_ms + chunk * HOUR_MS, False)
            self.ids += _send(self.settings, records)
            chunk += 1


def _switch(settings: Settings, stream: Stream, command: list[str], to: str) -> Any:
    """Run ``command`` while ``stream`` produces; return once scores by ``to`` come out."""
    stream.start()
    wait_for(lambda: len(stream.ids) >= 2_000, 60, "events before the switch")
    done = _cli(settings, *command)
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: any(s["model_version"] == to for s in _scores_since(settings, stream)),
        90,
        f"scores by {to}",
    )
    before = len(stream.ids)
    wait_for(lambda: len(stream.ids) >= before + 2_000, 60, "events after the switch")
    stream.stopping.set()
    stream.join(60)
    return done


def _scores_since(settings: Settings, stream: Stream) -> list[dict[str, Any]]:
    ids = set(stream.ids)
    return [
        s
        for s in (orjson.loads(r.value) for r in read_topic(settings, settings.topic_scores))
        if s["event_id"] in ids
    ]


def test_retrain_shadow_gate_promote_and_rollback(settings: Settings, running: None) -> None:
    # 1. after the concept change, v1 scores; labels come back through the joiner
    first = _phase(41, 30_000, T0)
    ids_a = _send(settings, first)
    wait_for(lambda: len(_labelled_ids(settings)) >= 9_000, 180, "labels of the first phase")

    # 2. retrain on labelled: a new version, v2, child of v1
    done = _cli(settings, "retrain")
    assert done.returncode == 0, done.stderr
    manifest = orjson.loads((settings.model_dir / "v2" / "manifest.json").read_bytes())
    lineage = manifest["lineage"]
    assert lineage["parent"] == "v1"
    assert lineage["holdout"]["new"]["auc"] > lineage["holdout"]["parent"]["auc"]

    # 3. v2 in shadow: the scorer loads it and logs its scores beside v1's
    done = _cli(settings, "models", "shadow", "v2", "--reason", "retrained after drift")
    assert done.returncode == 0, done.stderr
    probe = 0
    while not any(s["model_version"] == "v2" for s in _shadow(settings)):
        ids_a += _send(settings, _phase(60 + probe, 200, T0 + 20 * HOUR_MS, False))
        probe += 1
        assert probe < 60, "the scorer never loaded v2 as a shadow"
        _wait_scored(settings, len(ids_a))

    # 4. more events, scored by v1 and shadowed by v2; their labels make the gate's evidence
    ids_b = _send(settings, _phase(42, 20_000, T0 + 30 * HOUR_MS))
    labels_b = 5_000
    wait_for(
        lambda: len(_labelled_ids(settings) & set(ids_b)) >= labels_b, 180, "labels of phase B"
    )
    shadow = _shadow(settings)
    assert set(ids_b) <= {s["event_id"] for s in shadow if s["model_version"] == "v2"}
    assert all(s["role"] == "shadow" and s["deciding_version"] == "v1" for s in shadow)
    assert all(validator("score_shadow").is_valid(s) for s in shadow[:500])

    # 5. the gate promotes v2 while events stream in; the scorer switches between batches
    stream_c = Stream(settings, 43, T0 + 60 * HOUR_MS)
    _switch(settings, stream_c, ["models", "promote", "v2", "--gate", "--reason", "beats v1"], "v2")
    history = read_history(settings.model_dir).entries
    promote = [e for e in history if e["action"] == "promote"][-1]
    assert promote["version"] == "v2" and promote["previous"] == "v1" and not promote["forced"]
    evidence = promote["evidence"]
    assert evidence["passed"] and evidence["n"] >= 1_000 and evidence["ci_low"] > 0
    assert read_challengers(settings.model_dir) == []  # the champion left the challengers

    # 6. rollback restores v1 the same way
    stream_d = Stream(settings, 44, T0 + 90 * HOUR_MS)
    _switch(settings, stream_d, ["models", "rollback", "--reason", "drill"], "v1")
    assert (settings.model_dir / "CURRENT").read_text().strip() == "v1"
    actions = [
        (e["action"], e["version"], e["actor"]) for e in read_history(settings.model_dir).entries
    ]
    assert actions == [
        ("shadow", "v2", "e2e-test"),
        ("promote", "v2", "e2e-test"),
        ("rollback", "v1", "e2e-test"),
    ]

    # every event scored exactly once; per partition, one switch each way, at one offset
    scores = [orjson.loads(r.value) for r in read_topic(settings, settings.topic_scores)]
    produced = ids_a + ids_b + stream_c.ids + stream_d.ids
    assert Counter(s["event_id"] for s in scores) == Counter(produced)
    assert all(validator("score").is_valid(s) for s in scores[:500])
    _check_switches(scores, set(stream_c.ids), set(stream_d.ids))


def _check_switches(scores: list[dict[str, Any]], phase_c: set[str], phase_d: set[str]) -> None:
    """In each events partition, by offset: v1 …, then v2 … from one offset on (during
    phase C), then v1 … again from one offset on (during phase D)."""
    by_partition: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for s in scores:
        src = s["source"]
        by_partition[src["partition"]].append((src["offset"], s["model_version"], s["event_id"]))
    switched = 0
    for rows in by_partition.values():
        rows.sort()
        versions = [v for _, v, _ in rows]
        runs = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
        assert runs in (["v1"], ["v1", "v2"], ["v1", "v2", "v1"]), runs
        if runs == ["v1", "v2", "v1"]:
            switched += 1
            to_v2 = versions.index("v2")
            back = len(versions) - versions[::-1].index("v2")
            assert rows[to_v2][2] in phase_c and rows[back][2] in phase_d
    assert switched == len(by_partition) == 3


def test_a_concept_alert_brings_a_retrained_shadow_never_a_champion(
    settings: Settings, running: None
) -> None:
    pilot_settings = settings.model_copy(update={"actor": None, "retrain_min_labels": 3_000})
    pilot = _process(pilot_settings, "models", "autopilot")
    try:
        config = GeneratorConfig(
            seed=45,
            count=30_000,
            drift=(DriftSpec(6_000, concept=True),),
            feedback=FeedbackSpec(delay_mean_s=5.0),
        )
        write_records(settings, generate(config), rate=3_000)
        wait_for(lambda: bool(read_challengers(settings.model_dir)), 240, "a retrained shadow")
    finally:
        pilot.terminate()
        pilot.wait(30)
    [challenger] = read_challengers(settings.model_dir)
    assert challenger.role == "shadow" and challenger.version == "v2"
    assert (settings.model_dir / "CURRENT").read_text().strip() == "v1"  # never promoted
    [entry] = read_history(settings.model_dir).entries
    assert (entry["action"], entry["actor"], entry["previous"]) == ("shadow", "autopilot", "v1")
    assert entry["reason"].startswith("concept drift alert on v1")
    alerts = [orjson.loads(r.value) for r in read_topic(settings, settings.topic_drift_alerts)]
    concept = [a for a in alerts if a["signal"] == "concept"]
    assert concept and concept[0]["model_version"] == "v1"
    manifest = orjson.loads((settings.model_dir / "v2" / "manifest.json").read_bytes())
    assert manifest["lineage"]["parent"] == "v1"
    assert manifest["lineage"]["source"]["since"] == concept[0]["time"]  # the detection on
    assert manifest["lineage"]["label_counts"]["events"] >= 3_000
    probe = 0  # events from now on: the scorer loads v2 as a shadow
    while not any(s["model_version"] == "v2" for s in _shadow(settings)):
        _send(settings, _phase(70 + probe, 200, T0 + 40 * HOUR_MS, False))
        probe += 1
        assert probe < 60, "the scorer never loaded v2 as a shadow"
        _wait_scored(settings, 30_000 + 200 * probe)


def test_a_canary_decides_for_its_accounts_in_the_scorers_transactions(
    settings: Settings, running: None
) -> None:
    from streams.scoring.challengers import account_draw

    copy_version(settings.model_dir, "v2")  # v1 under another name
    done = _cli(settings, "models", "canary", "v2", "--fraction", "0.3", "--reason", "try")
    assert done.returncode == 0, done.stderr
    ids: list[str] = []
    probe = 0
    while not any(s["role"] == "champion" for s in _shadow(settings)):  # the canary is on
        ids += _send(settings, _phase(80 + probe, 200, T0 + probe * HOUR_MS, False))
        probe += 1
        assert probe < 60, "the scorer never loaded v2 as the canary"
        _wait_scored(settings, len(ids))
    last = _send(settings, _phase(90, 5_000, T0 + 100 * HOUR_MS, False))
    ids += last
    _wait_scored(settings, len(ids))
    on = {s["event_id"] for s in _shadow(settings) if s["role"] == "champion"}
    scores = [orjson.loads(r.value) for r in read_topic(settings, settings.topic_scores)]
    assert Counter(s["event_id"] for s in scores) == Counter(ids)  # each event once
    shadow = {(s["event_id"], s["model_version"]): s for s in _shadow(settings)}
    decided = Counter()
    last_ids = set(last)
    for s in (s for s in scores if s["event_id"] in last_ids):  # the canary on throughout
        expected = "v2" if account_draw(s["account_id"], "v2") < 0.3 else "v1"
        assert s["model_version"] == expected
        other = shadow[(s["event_id"], "v1" if expected == "v2" else "v2")]
        assert other["role"] == ("champion" if expected == "v2" else "shadow")
        assert other["deciding_version"] == expected and other["score"] == s["score"]
        decided[expected] += 1
    assert 0.2 < decided["v2"] / 5_000 < 0.4 and on
    # v2 is v1 under another name: the same decisions, so the guard holds
    alerts = [orjson.loads(r.value) for r in read_topic(settings, settings.topic_drift_alerts)]
    assert not [a for a in alerts if a["signal"] == "canary_guard"]
    assert read_challengers(settings.model_dir)[0].role == "canary"
