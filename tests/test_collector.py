"""The scorer's garbage-collection policy: frozen start-up, collection between batches."""

from __future__ import annotations

import gc
import weakref

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


def test_survivors_are_frozen_and_later_cycles_still_collected() -> None:
    collector = Collector(interval_s=0.000001, freeze_survivors=True)
    try:
        frozen = gc.get_freeze_count()
        kept = [_Cycle() for _ in range(100)]  # long-lived state
        collector.between_batches()
        assert gc.get_freeze_count() >= frozen + 100  # never walked again
        garbage = weakref.ref(_Cycle())
        collector.between_batches()
        assert garbage() is None  # made after the freeze: still collected
        assert len(kept) == 100
    finally:
        collector.close()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_interval_zero_leaves_python_in_charge() -> None:
    collector = Collector(interval_s=0)
    try:
        assert gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        collector.close()
    assert gc.isenabled()
