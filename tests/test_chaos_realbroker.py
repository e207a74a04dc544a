"""The chaos suite's short variant (issue 26): scorers and joiners SIGKILLed on a seeded
schedule and the broker restarted on its data, under a steady stream; every event is
scored or dead-lettered exactly once and every label joined (``bench/chaos.py``; the
soak is ``python -m bench.chaos --minutes 15``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import parser, run

pytestmark = pytest.mark.realbroker


def test_kills_and_a_broker_restart_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    args = parser().parse_args(
        ["--minutes", "1.5", "--scorers", "2", "--kill-every", "6", "--broker-restarts", "1"]
    )
    result = run(args, tmp_path)
    outcome = result["outcome"]
    assert isinstance(outcome, dict)
    print(f"\n{result}")
    assert result["kills_total"] >= 8  # the schedule did run
    assert result["broker_restarts_total"] == 1
    assert outcome["labels_expected"] > 0 and outcome["dead_lettered"] > 0
    assert outcome["scored"] == outcome["valid_sent"]
    assert outcome["lost"] == 0, outcome
    assert outcome["duplicated"] == 0, outcome
