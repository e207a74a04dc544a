"""BENCHMARKS.md's online challenger section (``bench/results/online.json``)."""

from __future__ import annotations

from typing import Any

from bench.report_table import heading, table


def _f(value: Any, fmt: str) -> str:
    return "-" if value is None or value != value else format(value, fmt)


def online(result: dict[str, Any]) -> list[str]:
    """Rolling AUC of the champion and of each River candidate around a concept change,
    and what each costs per record."""
    takeovers = result.get("takeovers", 0.0)
    title = "The online challenger" + (" on a velocity champion's features" if takeovers else "")
    lines = heading(
        title,
        result,
        f"{result['events']:,} generated events (seed {result['seed']}, fraud rate "
        f"{result['fraud_rate']:.3f}"
        + (f", account takeovers: {takeovers} per event" if takeovers else "")
        + f"), a concept change at event "
        f"{result['concept_change_at']:,}; {result['labels']:,} first labels arriving on "
        f"average {result['label_delay_mean_events']:,.0f} events after their event. "
        "Candidates start untrained and are validated progressively (each event predicted "
        "on arrival, each label learned on arrival). AUC: mean over windows of "
        f"{result['window']:,} events of the true labels. µs per record: River one record "
        "at a time; *numpy*: the published `model.json` predicted in batches of 500, as the "
        "scorer runs it.",
    )
    rows = [
        [
            r["model"],
            _f(r["before"], ".3f"),
            _f(r["after_10k"], ".3f"),
            _f(r["after_settled"], ".3f"),
            _f(r.get("us_predict"), ".1f"),
            _f(r.get("us_learn"), ".1f"),
            _f(r.get("us_numpy_predict"), ".3f"),
        ]
        for r in result["rows"]
    ]
    header = ["model", "AUC: 10k events before", "first 10k after", "after that",
              "µs/predict (River)", "µs/learn (River)", "µs/predict (numpy)"]  # fmt: skip
    return lines + table(header, rows)
