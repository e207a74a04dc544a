"""Where a cold start's decision comes from (setting ``cold_start_route``): an event of an
account without history has no velocity features, so a velocity model decides it on
the event's own features alone, a guess the model was not trained to make well.

- ``model``: the model decides, as for any event;
- ``fallback``: the fallback rules score it (``model_version: fallback-rules``,
  ``fallback: true``), as when no model can score;
- ``review``: the model scores it, and an ``approve`` becomes ``review`` (a decline stays).

Pure: the pipeline calls :func:`route_scores` before deciding and :func:`route_decisions`
after, for models with velocity features only.

>>> route_decisions("review", ["approve", "decline", "approve"], [True, True, False])
['review', 'decline', 'approve']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.config import ColdStartRoute
from streams.model.fallback import FALLBACK_VERSION, rule_scores
from streams.model.features import FeatureAssembler, Matrix
from streams.scoring.challengers import Chosen


def route_scores(
    route: ColdStartRoute,
    chosen: Chosen,
    X: Matrix,
    cold: Sequence[bool],
    assembler: FeatureAssembler,
) -> tuple[Chosen, list[bool] | None]:
    """With ``fallback``, the rules' scores for the cold starts (their version, and a
    per-event fallback flag); otherwise ``chosen`` as it is and no flags."""
    picks = np.flatnonzero(np.asarray(cold, dtype=np.bool_))
    if route != "fallback" or not len(picks):
        return chosen, None
    scores = chosen.scores.copy()
    scores[picks] = rule_scores(X[picks], assembler)
    n = len(scores)
    versions = [chosen.versions] * n if isinstance(chosen.versions, str) else list(chosen.versions)
    flags = [False] * n
    for i in picks.tolist():
        versions[i], flags[i] = FALLBACK_VERSION, True
    return Chosen(scores, versions, chosen.others, chosen.trip), flags


def route_decisions(route: ColdStartRoute, decisions: list[str], cold: Sequence[bool]) -> list[str]:
    """With ``review``, each cold start's ``approve`` as ``review``."""
    if route != "review":
        return decisions
    return ["review" if c and d == "approve" else d for d, c in zip(decisions, cold, strict=True)]
