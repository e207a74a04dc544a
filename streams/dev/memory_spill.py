"""An in-memory :class:`~streams.scoring.account_spill.Spill`, for tests and doctests.

>>> spill = DictSpill()
>>> spill.take(0, ["a"]), spill.older(0, before=1)
({}, [])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from streams.model.account_window import AccountState
from streams.scoring.state_changelog import Log


class DictSpill:
    """A :class:`~streams.scoring.account_spill.Spill` in a dict."""

    def __init__(self) -> None:
        self.kept: dict[int, dict[str, tuple[Log, AccountState]]] = {}

    def put(self, partition: int, accounts: Mapping[str, tuple[Log, AccountState]]) -> None:
        self.kept.setdefault(partition, {}).update(accounts)

    def take(
        self, partition: int, accounts: Collection[str]
    ) -> dict[str, tuple[Log, AccountState]]:
        kept = self.kept.get(partition, {})
        return {a: kept.pop(a) for a in accounts if a in kept}

    def older(self, partition: int, before: int) -> list[str]:
        kept = self.kept.get(partition, {})
        return [a for a, (_, s) in kept.items() if s.last_time < before]

    def clear(self, partition: int) -> None:
        self.kept.pop(partition, None)
