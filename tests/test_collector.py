"""The scorer's garbage-collection policy: frozen start-up, collection between batches."""

from __future__ import annotations

import gc

from streams.ops.gc_control import Collector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_collects_cycles_between_batches_and_restores_the_default() -> None:
    assert gc.isenabled()
    collector = Collector(interval_s=0.000001)
    try:
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # start-up objects are out of every collection
        _Cycle()  # cyclic garbage: only the cyclic collector can free it
        assert any(isinstance(o, _Cycle) for o in gc.get_objects())
        collector.between_batches()
        assert not any(isinstance(o, _Cycle) for o in gc.get_objects())
    finally:
        collector.close()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_interval_zero_leaves_python_in_charge() -> None:
    collector = Collector(interval_s=0)
    try:
        assert gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        collector.close()
    assert gc.isenabled()
