"""``scores.shadow`` in the joiner: the scores of versions that did not decide an event.

The scorer writes one ``scores.shadow`` record per event and version that scored it
without deciding (a shadow challenger; the champion where a canary decided), in the
transaction of the event's ``scores`` record. The join keeps each in the event's entry
(:class:`~streams.feedback.entries.Shadow`: score and source offset, per version) and
gives it the event's label, whichever comes first, so every version's online quality
and AUC estimate see the same labels as the deciding one. No ``labelled`` record is
made of a shadow score: ``labelled`` stays one record per event and label.

Records are parsed by :func:`streams.contract.join_inputs.parse_shadow` (the gate's
evidence reads them with it too).
"""

from __future__ import annotations

from typing import Literal

from streams.contract.join_inputs import ShadowIn
from streams.feedback.entries import Entry, Shadow

Added = Literal["new", "replay", "copy"]
"""What a shadow score was to its entry: new, read again at its offset, or another copy."""


def add_shadow(entry: Entry, shadow: ShadowIn, offset: int) -> Added:
    """Keep ``shadow`` in ``entry`` unless its version's score is there already: from the
    same offset (a replay), or from another record (a copy; the first one stays)."""
    known = entry.shadow.get(shadow.model_version)
    if known is not None:
        return "replay" if known.offset == offset else "copy"
    entry.shadow[shadow.model_version] = Shadow(shadow.score, offset)
    return "new"
