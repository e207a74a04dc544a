"""Python's garbage collection for the scorer and the joiner: between batches, not inside them.

>>> collector = Collector(interval_s=1.0)   # doctest: +SKIP
>>> collector.between_batches()             # doctest: +SKIP
"""

from __future__ import annotations

import gc
import time


class Collector:
    """Python's cyclic garbage collection, run between batches instead of inside them.

    A batch of 5,000 allocates ~100,000 objects: Python's automatic collector would run
    several times inside each batch, each time walking every live object (its cost is
    in BENCHMARKS.md, *hot path*). So: freeze what start-up built (the model, the drift
    reference: never garbage), turn the automatic collector off, and collect every
    ``interval_s`` between batches (~0.1 ms). ``interval_s`` 0 leaves Python's default.

    ``freeze_survivors`` also freezes what each collection leaves alive, so the next one
    walks only what was made since: a collection over the scorer's velocity state
    (~10 objects and ~250 list items per account) would pause it ~10 ms per 1,000
    accounts. The price: a frozen object that later dies inside a reference cycle is
    never collected; the scorer's long-lived objects (models, windows, drift state) form
    no cycles, and a model swap unfreezes and collects everything (:meth:`refreeze`).
    """

    def __init__(self, interval_s: float, freeze_survivors: bool = False) -> None:
        self.interval_s = interval_s
        self.freeze_survivors = freeze_survivors
        self.managed = interval_s > 0 and gc.isenabled()
        self._next = time.monotonic() + interval_s
        if self.managed:
            gc.collect()
            gc.freeze()
            gc.disable()

    def between_batches(self) -> None:
        """Collect if the interval has passed."""
        if self.managed and time.monotonic() >= self._next:
            gc.collect()
            if self.freeze_survivors:
                gc.freeze()
            self._next = time.monotonic() + self.interval_s

    def refreeze(self) -> None:
        """After a model swap: let go of frozen objects that are garbage now."""
        if self.managed:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def close(self) -> None:
        """Give the process its automatic collector back."""
        if self.managed:
            gc.unfreeze()
            gc.enable()
            self.managed = False
