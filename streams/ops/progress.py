"""Progress of a long command on stderr: a rich bar on a terminal, else a line per ~10%.

>>> import io
>>> bar = Progress("reading labelled", 1_000, io.StringIO())
>>> bar.update(500); bar.finish(1_000); bar.stream.getvalue().splitlines()
['reading labelled: 500/1,000 (50%)', 'reading labelled: 1,000 done']
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """A progress bar over ``total`` steps (``rich`` when ``stream`` is a terminal)."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total = label, max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self._shown = -1
        self._bar: Any = None
        if self.stream.isatty():  # rich is imported only when it draws
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            columns = (TextColumn(label), BarColumn(), MofNCompleteColumn())
            self._bar = Bar(*columns, TimeRemainingColumn(), console=Console(file=self.stream))
            self._task = self._bar.add_task(label, total=self.total)
            self._bar.start()

    def update(self, done: int) -> None:
        """``done`` of the total so far (cheap to call often)."""
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
            return
        pct = min(100, done * 100 // self.total)
        if self._shown < 0 or pct // 10 > self._shown // 10:
            self.stream.write(f"{self.label}: {done:,}/{self.total:,} ({pct}%)\n")
            self.stream.flush()
            self._shown = pct

    def finish(self, done: int) -> None:
        """The final count; the bar stops."""
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
            self._bar.stop()
            return
        self.stream.write(f"{self.label}: {done:,} done\n")
        self.stream.flush()
