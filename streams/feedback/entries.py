"""The join's stored entry, one per event id, its binary form, and the ``labelled`` record.

An entry holds the score (:class:`StoredScore`, and its source offset ``so``), the
current ``label``, the feedback seen (:class:`Seen`), when it expires by event time
(``exp``) and its partition (``p``). Each seen feedback records how it was labelled
(:data:`WAITING`, :data:`ON_ARRIVAL`, :data:`BY_SCORE`), its source offset and the label
it replaced, so a record read again after a crash emits exactly what it emitted the
first time; its raw record is kept while it waits for its score, and after its score
labelled it (that score's replay needs it). An entry whose score expired stays as a
small marker (``gone``) for one more retention period, so feedback that comes too late
is told apart from feedback for an event never seen. The scores of the versions that
did not decide (``scores.shadow``: shadow challengers, the champion where a canary
decided) are kept in ``shadow`` (version → :class:`Shadow`: score, source offset), for
their quality; a marker drops them.

Entries are MessagePack (msgspec), about 120 bytes for a score with 15 features, and
are read ~3 µs, written ~0.3 µs each. Entries written by earlier versions as JSON are
read too.

>>> e = Entry(exp=10, p=0, score=None, seen=[Seen("f1", 4, WAITING, None, b"{}")])
>>> decode(encode(e)) == e
True
>>> decode(b'{"seen": ["old-id"], "exp": 5, "p": 1}').seen[0].how  # an entry in JSON
'a'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from streams.contract.validation import DEFAULT_MAX_BYTES
from streams.model.features import FEATURE_NAMES

State = dict[str, Any]
_NAMES = list(FEATURE_NAMES)

WAITING = "w"  # no score yet: kept until its score comes or it expires
ON_ARRIVAL = "a"  # labelled when it arrived (a replay of it emits again)
BY_SCORE = "s"  # labelled when its score arrived (a replay of the score emits again)
SEEN_LIMIT = 16  # feedback remembered per event (duplicates, replays); waiting ones always


class Seen(msgspec.Struct, array_like=True):
    """One feedback record the entry has seen."""

    feedback_id: str
    offset: int | None  # where it was read (None: an entry from before offsets were kept)
    how: str
    previous: int | None  # the label it replaced when it was labelled
    record: bytes | None  # its raw JSON while waiting, and once labelled by its score


class Shadow(msgspec.Struct, array_like=True):
    """The score of a version that did not decide the event, and where it was read."""

    score: float
    offset: int  # its source offset in scores.shadow: read there again, it is a replay


class StoredScore(msgspec.Struct, array_like=True):
    """What the join keeps of a score: what a ``labelled`` record repeats."""

    account_id: str
    names: list[str] | None  # the feature names in the score's order; None: FEATURE_NAMES
    values: list[float | int | None]
    score: float
    decision: str
    model_version: str
    event_time: int
    scored_at: int
    cold_start: bool | None = None  # a velocity model's score says; None: it does not


class Entry(msgspec.Struct, array_like=True):
    """Everything the join holds for one event id."""

    exp: int  # event time (ms) after which it expires
    p: int  # its partition
    score: StoredScore | None = None
    so: int | None = None  # the score's source offset
    label: int | None = None
    seen: list[Seen] = msgspec.field(default_factory=list)
    gone: bool = False  # the score expired: a marker, until ``exp``
    shadow: dict[str, Shadow] = msgspec.field(default_factory=dict)  # by model version


if TYPE_CHECKING:
    ScoreFeatures = Any
else:
    # a score's features when they are the model's (others decode in the exact path)
    ScoreFeatures = msgspec.defstruct(
        "ScoreFeatures",
        [(name, float | int | None) for name in FEATURE_NAMES],
        forbid_unknown_fields=True,
    )


class ScoreIn(msgspec.Struct):
    """The fields of a ``scores`` record the join uses, decoded in one C call (~2 µs,
    a third less than parsing it to a dict; the features straight into their order)."""

    event_id: str
    account_id: str
    features: ScoreFeatures
    score: float | int
    decision: str
    model_version: str
    event_time: int
    scored_at: int
    cold_start: bool | None = None

    def stored(self) -> StoredScore:
        """What the join keeps of it."""
        values = list(msgspec.structs.astuple(self.features))
        return StoredScore(
            self.account_id,
            None,
            values,
            self.score,
            self.decision,
            self.model_version,
            self.event_time,
            self.scored_at,
            self.cold_start,
        )


_SCORE = msgspec.json.Decoder(ScoreIn)


def fast_score(raw: bytes | None) -> ScoreIn | None:
    """A score decoded on the fast path, or None: then the exact path decides (and a
    score whose features are not the model's takes it too)."""
    if raw is None or len(raw) > DEFAULT_MAX_BYTES:
        return None
    try:
        score = _SCORE.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return score


class _Head(msgspec.Struct, array_like=True):
    """An entry's first fields: what indexing it needs (the rest is not decoded)."""

    exp: int
    p: int


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Entry)
_HEAD = msgspec.msgpack.Decoder(_Head)


def encode(entry: Entry) -> bytes:
    """The stored (and changelogged) form of ``entry``."""
    return _ENCODER.encode(entry)


def decode(value: bytes | State) -> Entry:
    """An entry from its stored form; JSON entries of earlier versions are converted."""
    if isinstance(value, bytes) and value[:1] != b"{":
        return _DECODER.decode(value)
    return _from_json(value if isinstance(value, dict) else orjson.loads(value))


def expiry_of(value: bytes | State) -> tuple[int, int]:
    """The expiry and partition of a stored entry, read without decoding the rest."""
    if isinstance(value, bytes) and value[:1] != b"{":
        head = _HEAD.decode(value)
        return head.exp, head.p
    entry = decode(value)
    return entry.exp, entry.p


def _from_json(old: State) -> Entry:
    """An entry written as JSON: seen feedback as bare ids or lists, a ``pending`` list."""
    seen = []
    for s in old.get("seen", []):
        if isinstance(s, list):
            raw = orjson.dumps(s[4]) if s[4] is not None else None
            seen.append(Seen(s[0], s[1], s[2], s[3], raw))
        else:
            seen.append(Seen(s, None, ON_ARRIVAL, None, None))
    for fb in old.get("pending", []):
        seen = [s for s in seen if s.feedback_id != fb["feedback_id"]]
        seen.append(Seen(fb["feedback_id"], None, WAITING, None, orjson.dumps(fb)))
    s = old.get("score")
    score = None
    if s is not None:
        score = stored_score(s)
    return Entry(old.get("exp", 0), old.get("p", 0), score, old.get("so"), old.get("label"), seen)


def stored_score(score: State) -> StoredScore:
    """What the join keeps of a parsed ``scores`` record (the feature names only when
    they are not the model's, the usual case: a third of the bytes)."""
    features = score["features"]
    names = list(features)
    values = list(features.values())
    return StoredScore(
        score["account_id"],
        None if names == _NAMES else names,
        values,
        score["score"],
        score["decision"],
        score["model_version"],
        score["event_time"],
        score["scored_at"],
        score.get("cold_start"),
    )


def bounded(seen: list[Seen]) -> list[Seen]:
    """``seen`` without its oldest labelled feedback beyond :data:`SEEN_LIMIT` (waiting
    feedback is kept: it is what the score will label)."""
    extra = len(seen) - SEEN_LIMIT
    if extra <= 0:
        return seen
    out, dropped = [], 0
    for s in seen:
        if dropped < extra and s.how != WAITING:
            dropped += 1
            continue
        out.append(s)
    return out


def labelled_value(event_id: str, s: StoredScore, fb: State, previous: int | None) -> State:
    """The ``labelled`` record of feedback ``fb`` on score ``s`` (no wall-clock time)."""
    cold = {} if s.cold_start is None else {"cold_start": s.cold_start}
    return {
        "event_id": event_id,
        "account_id": s.account_id,
        "features": dict(zip(_NAMES if s.names is None else s.names, s.values, strict=True)),
        "score": s.score,
        "decision": s.decision,
        "model_version": s.model_version,
        "label": fb["label"],
        "label_source": fb["label_source"],
        "feedback_id": fb["feedback_id"],
        "event_time": s.event_time,
        "score_time": s.scored_at,
        "label_time": fb["label_time"],
        "label_delay_ms": fb["label_time"] - s.event_time,
        "correction": previous is not None,
        "previous_label": previous,
        **cold,
    }
