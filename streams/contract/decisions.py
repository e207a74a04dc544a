"""Decisions: a score becomes ``approve``, ``review`` or ``decline`` by two thresholds.

The labels are the ``decision`` enum of ``schemas/score.schema.json``; the thresholds
are the settings ``review_threshold`` and ``decline_threshold``. Per batch, with numpy.

>>> decide(np.array([0.1, 0.2, 0.7]), review=0.2, decline=0.6)
['approve', 'review', 'decline']
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

DECISIONS = ("approve", "review", "decline")
"""In order of the score: below review, between, at or above decline."""


def decision_index(
    scores: npt.NDArray[np.float64], review: float, decline: float
) -> npt.NDArray[np.int64]:
    """Each score's decision as an index into :data:`DECISIONS`.

    >>> decision_index(np.array([0.1, 0.2, 0.7]), 0.2, 0.6).tolist()
    [0, 1, 2]
    """
    return (scores >= review).astype(np.int64) + (scores >= decline)


def decide(scores: npt.NDArray[np.float64], review: float, decline: float) -> list[str]:
    """``approve`` below ``review``, ``decline`` at or above ``decline``, else ``review``."""
    return [DECISIONS[i] for i in decision_index(scores, review, decline).tolist()]
