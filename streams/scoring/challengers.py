"""Challengers in the scorer: shadow versions that never decide, and one canary that
decides for a fixed share of accounts, stopped by a guard if it decides too differently.

Pure (no Kafka, no files). The scorer loads the versions ``models/CHALLENGERS`` names
(:mod:`streams.model.registry`), at most ``challengers_max``; the pipeline
(:mod:`streams.scoring.pipeline`) predicts each on the same feature matrix as the
champion, in the same micro-batch.

Which accounts a canary decides for is a hash of the account id and the canary's
version: the same account always meets the same model while that version is the canary,
and another version's canary draws other accounts.

>>> canary_share(["a1", "a2", "a3"], "v2", 0.0).tolist()
[False, False, False]
>>> (canary_share(["a1"] * 3, "v2", 0.5) == canary_share(["a1"], "v2", 0.5)[0]).all()
np.True_
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from streams.contract.records import Origin
from streams.model.artifact import Model
from streams.model.features import Matrix
from streams.monitoring.alerts import DriftAlert, Position

log = logging.getLogger(__name__)

Role = Literal["shadow", "canary"]
_SCALE = float(2**64)


@dataclass(frozen=True)
class LoadedChallenger:
    """A loaded challenger version and its role (``fraction``: the canary's share)."""

    model: Model
    role: Role
    fraction: float = 0.0

    @property
    def version(self) -> str:
        """The challenger's model version."""
        return self.model.version


@dataclass(frozen=True)
class ModelSet:
    """What the scorer predicts with: the champion (None: the fallback rules) and challengers."""

    champion: Model | None
    challengers: tuple[LoadedChallenger, ...] = ()
    fallback: Model | None = None  # fallback_version: scores when the champion cannot

    @property
    def state(self) -> tuple[str | None, tuple[tuple[str, str, float], ...]]:
        """The versions and roles, to compare with what the registry asks for."""
        version = self.champion.version if self.champion is not None else None
        return version, tuple((c.version, c.role, c.fraction) for c in self.challengers)


def account_draw(account_id: str, version: str) -> float:
    """Where ``account_id`` falls in [0, 1) for ``version``'s canary (stable everywhere:
    blake2b of both, not Python's per-process ``hash``)."""
    digest = hashlib.blake2b(f"{version}\x00{account_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def canary_share(
    account_ids: Sequence[str], version: str, fraction: float
) -> npt.NDArray[np.bool_]:
    """Per event, True when ``version``'s canary decides it: its account draws below
    ``fraction``. Costs about 0.5 µs per event (one blake2b), paid only with a canary."""
    if fraction <= 0.0:
        return np.zeros(len(account_ids), dtype=np.bool_)
    draws = np.fromiter(
        (account_draw(a, version) for a in account_ids), np.float64, len(account_ids)
    )
    return draws < fraction


@dataclass(frozen=True)
class GuardTrip:
    """The canary guard stopped a canary: its review+decline rate against the champion's."""

    version: str
    canary_rate: float
    champion_rate: float
    margin: float
    canary_events: int
    champion_events: int
    first_time: int  # event time of the first event the guard counted, epoch ms
    time: int  # event time of the last event of the batch that tripped it

    @property
    def gap(self) -> float:
        """How far the canary's rate is from the champion's (signed)."""
        return self.canary_rate - self.champion_rate


@dataclass
class CanaryGuard:
    """Counts the decisions of the canary's accounts and of the champion's, and trips once
    both have at least ``min_events`` and their review+decline rates differ by more than
    ``margin``. A tripped guard stays tripped: the canary is stopped for good."""

    version: str
    margin: float
    min_events: int
    counts: dict[str, list[int]] = field(
        default_factory=lambda: {"canary": [0, 0], "champion": [0, 0]}
    )
    tripped: GuardTrip | None = None
    first_time: int | None = None

    def observe(
        self, flagged: npt.NDArray[np.bool_], canary: npt.NDArray[np.bool_], times: Sequence[int]
    ) -> GuardTrip | None:
        """One batch: ``flagged`` (decided review or decline), ``canary`` (decided by the
        canary) and event time per event. The trip, the first time it happens; else None."""
        if self.tripped is not None or not times:
            return None
        if self.first_time is None:
            self.first_time = times[0]
        for arm, rows in (("canary", canary), ("champion", ~canary)):
            self.counts[arm][0] += int(rows.sum())
            self.counts[arm][1] += int((flagged & rows).sum())
        (n_can, f_can), (n_champ, f_champ) = self.counts["canary"], self.counts["champion"]
        if min(n_can, n_champ) < self.min_events:
            return None
        canary_rate, champion_rate = f_can / n_can, f_champ / n_champ
        if abs(canary_rate - champion_rate) <= self.margin:
            return None
        self.tripped = GuardTrip(
            self.version,
            canary_rate,
            champion_rate,
            self.margin,
            n_can,
            n_champ,
            self.first_time,
            times[-1],
        )
        return self.tripped


@dataclass(frozen=True)
class Chosen:
    """A batch's deciding score and version per event, and each version that did not
    decide: (version, role, its scores, the events it did not decide)."""

    scores: Matrix
    versions: str | list[str]
    others: list[tuple[str, str, Matrix, npt.NDArray[np.bool_]]] = field(default_factory=list)
    trip: GuardTrip | None = None


class ChallengerSet:
    """The challengers of one champion: predicts them on the champion's feature matrix,
    lets the canary decide for its accounts, and keeps its guard."""

    def __init__(self, loaded: Sequence[LoadedChallenger], margin: float, min_events: int) -> None:
        self.loaded = tuple(loaded)
        canary = next((c for c in self.loaded if c.role == "canary"), None)
        self.canary_version = canary.version if canary is not None else None
        self.guard = CanaryGuard(canary.version, margin, min_events) if canary else None

    def __bool__(self) -> bool:
        return bool(self.loaded)

    def choose(
        self,
        rows: tuple[Sequence[str], Sequence[int]],
        X: Matrix,
        champion: tuple[str, Matrix],
        review: float,
    ) -> Chosen:
        """Who decides each event of the batch (``rows``: account ids and event times), and
        every other version's scores."""
        account_ids, times = rows
        version, scores = champion
        predicted = self._predict(X)
        canary = next(((c, p) for c, p in predicted if c.role == "canary"), None)
        if canary is None or self.guard is None or self.guard.tripped is not None:
            none = np.zeros(len(scores), dtype=np.bool_)
            return Chosen(scores, version, [(c.version, "shadow", p, ~none) for c, p in predicted])
        decider, canary_scores = canary
        mask = canary_share(account_ids, decider.version, decider.fraction)
        deciding = np.where(mask, canary_scores, scores)
        versions = [decider.version if m else version for m in mask.tolist()]
        everyone = np.ones_like(mask)
        others = [(version, "champion", scores, mask)]
        others += [
            (c.version, "shadow", p, ~mask if c is decider else everyone) for c, p in predicted
        ]
        trip = self.guard.observe(deciding >= review, mask, times)
        return Chosen(deciding, versions, others, trip)

    def _predict(self, X: Matrix) -> list[tuple[LoadedChallenger, Matrix]]:
        """Each challenger's scores; one that fails is left out of this batch (logged):
        a challenger never holds up or changes the champion's scoring."""
        out = []
        for c in self.loaded:
            try:
                out.append((c, c.model.predict(X)))
            except Exception:  # any model failure: the champion's scores still go out
                log.exception("challenger prediction failed", extra={"version": c.version})
        return out


def guard_alert(trip: GuardTrip, origins: Sequence[Origin]) -> DriftAlert:
    """The ``drift.alerts`` record of a tripped guard (signal ``canary_guard``): the gap of
    review+decline rates, canary minus champion, over the events it counted."""
    events = trip.canary_events + trip.champion_events
    return DriftAlert(
        signal="canary_guard",
        feature=None,
        detector="window",
        statistic=trip.gap,
        statistic_name="decision_rate_gap",
        threshold=trip.margin,
        window=events,
        model_version=trip.version,
        window_first_time=trip.first_time,
        window_start=[],
        trigger=Position.of(origins[-1]) if origins else None,
        time=trip.time,
        events_seen=events,
    )


def guard_evidence(trip: GuardTrip) -> dict[str, float | int]:
    """What the guard saw, for the audit log."""
    return {
        "canary_rate": round(trip.canary_rate, 6),
        "champion_rate": round(trip.champion_rate, 6),
        "margin": trip.margin,
        "canary_events": trip.canary_events,
        "champion_events": trip.champion_events,
    }
