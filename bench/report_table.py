"""The pieces every BENCHMARKS.md section is made of."""

from __future__ import annotations

from typing import Any


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def heading(title: str, result: dict[str, Any], text: str) -> list[str]:
    """A section's title with the command that measured it, and what it shows.

    >>> heading("Latency", {"command": "c"}, "ms.")
    ['## Latency (`c`)', '', 'ms.', '']
    """
    return [f"## {title} (`{result['command']}`)", "", text, ""]
