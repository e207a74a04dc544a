"""``streamscore retrain``: a new model version from the ``labelled`` topic.

Reads ``labelled`` (read_committed, to its end) restricted to an offset or event-time
:class:`Selection`, keeps the latest label per event (corrections win,
:mod:`streams.lifecycle.labelled_data`), trains LightGBM with the parent's parameters
on exactly the logged feature vectors, holds out the latest events by event time,
and writes an immutable version whose manifest adds a ``lineage`` section: parent,
source offsets, label counts, and the new and the parent model's metrics on the same
holdout. Progress goes to stderr.

>>> retrain(settings, RetrainOptions(parent="v1"))   # doctest: +SKIP
>>> parse_time("1970-01-01T00:00:01Z"), parse_time("1500")
(1000, 1500)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from streams.config import Settings
from streams.contract.records import InRecord
from streams.errors import ModelError
from streams.kafka import scan_topic, watermarks
from streams.kafka.clients import origin_of
from streams.lifecycle.labelled_data import (
    LabelledCounts,
    LabelledRow,
    latest_by_event,
    training_matrix,
)
from streams.model.artifact import current_version, load_model, read_manifest
from streams.model.features import Matrix
from streams.model.training import (
    MANIFEST_FILE,
    build_manifest,
    fit,
    holdout_split,
    quality,
    training_params,
    write_version,
)
from streams.ops.progress import Progress

MIN_EVENTS = 100
CHECK_ROWS = 2_000  # rows of the training matrix that compiled trees are checked on
_VERSION = re.compile(r"v(\d+)")
_VERSION_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")  # no path, not hidden


class NotEnoughLabels(ModelError):
    """Too few labelled events, or a class missing in the training rows or the holdout."""


@dataclass(frozen=True)
class Selection:
    """Which ``labelled`` records to train on: offsets ``[from_offset, to_offset)`` of
    every partition, events with ``since <= event_time < until`` (epoch ms)."""

    from_offset: int | None = None
    to_offset: int | None = None
    since: int | None = None
    until: int | None = None

    def takes_offset(self, offset: int) -> bool:
        """True when ``offset`` is in the offset range."""
        lo, hi = self.from_offset, self.to_offset
        return (lo is None or offset >= lo) and (hi is None or offset < hi)

    def takes_time(self, event_time: int) -> bool:
        """True when ``event_time`` is in the event-time range."""
        return (self.since is None or event_time >= self.since) and (
            self.until is None or event_time < self.until
        )


@dataclass(frozen=True)
class RetrainOptions:
    """The command's choices; None: the default (see ``streamscore retrain --help``)."""

    selection: Selection = field(default_factory=Selection)
    version: str | None = None
    parent: str | None = None
    seed: int | None = None
    rounds: int | None = None


@dataclass(frozen=True)
class RetrainResult:
    """The version written, its manifest, and what was read."""

    path: Path
    manifest: dict[str, Any]
    counts: LabelledCounts

    def summary(self) -> str:
        """One line: version, parent, events, and both models' holdout AUC."""
        lineage = self.manifest["lineage"]
        hold = lineage["holdout"]
        return (
            f"wrote {self.path}: parent {lineage['parent']}, {self.counts.events} events "
            f"({self.counts.positives} positive), holdout {hold['rows']} rows: "
            f"AUC {hold['new']['auc']:.4f} (parent {hold['parent']['auc']:.4f}), "
            f"log loss {hold['new']['log_loss']:.4f} (parent {hold['parent']['log_loss']:.4f})"
        )


def parse_time(text: str) -> int:
    """Epoch ms from a number of ms or an ISO-8601 time (UTC when no offset is given)."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ModelError(f"not epoch ms nor an ISO-8601 time: {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def next_version(model_dir: Path) -> str:
    """``v<N+1>`` for the highest ``v<N>`` directory in ``model_dir`` (``v1`` if none)."""
    found = [0]
    if model_dir.is_dir():
        found += [int(m[1]) for p in model_dir.iterdir() if (m := _VERSION.fullmatch(p.name))]
    return f"v{max(found) + 1}"


def read_labelled(
    settings: Settings, selection: Selection, progress: bool = True
) -> list[InRecord]:
    """The records of ``labelled`` in the selection's offset range, read to the end."""
    topic = settings.topic_labelled
    total = sum(high - low for low, high in watermarks(settings, topic).values())
    bar = Progress(f"reading {topic}", total) if progress else None
    out: list[InRecord] = []
    read = 0

    def take(msg: Any) -> None:
        nonlocal read
        read += 1
        origin = origin_of(msg)
        if selection.takes_offset(origin.offset):
            out.append(InRecord(origin, msg.key(), msg.value()))
        if bar is not None and read % 500 == 0:
            bar.update(read)

    scan_topic(settings, topic, take, deadline_s=600.0)
    if bar is not None:
        bar.finish(read)
    return out


def retrain(settings: Settings, options: RetrainOptions, progress: bool = True) -> RetrainResult:
    """Read ``labelled`` from the broker and train and write a new version."""
    records = read_labelled(settings, options.selection, progress)
    result = retrain_records(records, settings, options, progress)
    if settings.mlflow_tracking_uri:
        from streams.lifecycle.mlflow_log import log_retrain

        log_retrain(settings.mlflow_tracking_uri, result)
    return result


def retrain_records(
    records: Iterable[InRecord], settings: Settings, options: RetrainOptions, progress: bool = False
) -> RetrainResult:
    """Train and write a new version from ``labelled`` records (no Kafka)."""
    model_dir = settings.model_dir
    parent = load_model(model_dir, options.parent or current_version(model_dir))
    levels = {f["name"]: f["levels"] for f in parent.manifest["features"] if "levels" in f}
    features = parent.features  # the parent's: velocity models retrain on velocity too
    latest, counts = latest_by_event(records, features)
    rows, counts = _select(latest, counts, options.selection, model_dir, levels)
    X, y, times = training_matrix(rows, features)
    cut = holdout_split(len(y), settings.retrain_holdout_fraction)
    _check_enough(y, cut)
    trained = parent.manifest["training"]
    seed = trained["seed"] if options.seed is None else options.seed
    rounds = options.rounds or int(trained["num_trees"])
    params = training_params(trained["params"], seed)
    bar = Progress("training", rounds) if progress else None
    on_round = None if bar is None else (lambda done, _total: bar.update(done))
    holdout = settings.retrain_holdout_fraction
    fitted = fit(X, y, times, params, rounds, holdout, levels, on_round, features)
    if bar is not None:
        bar.finish(fitted.booster.current_iteration())
    version = options.version or next_version(model_dir)
    training = {"seed": seed, "events": len(y), **fitted.training}
    manifest = build_manifest(version, levels, training, fitted.metrics, fitted.reference, features)
    new = {"auc": fitted.metrics["holdout_auc"], "log_loss": fitted.metrics["holdout_log_loss"]}
    manifest["lineage"] = _lineage(settings, options.selection, counts, times[cut:])
    manifest["lineage"]["parent"] = parent.version
    manifest["lineage"]["holdout"] |= {
        "new": new,
        "parent": quality(y[cut:], parent.predict(X[cut:])),
    }
    check = X[:cut][np.linspace(0, cut - 1, min(cut, CHECK_ROWS)).astype(np.int64)]
    path = write_version(model_dir, version, fitted.booster, manifest, check)
    return RetrainResult(path, read_manifest(path / MANIFEST_FILE), counts)


def _select(
    latest: Mapping[str, LabelledRow],
    counts: LabelledCounts,
    selection: Selection,
    model_dir: Path,
    levels: Mapping[str, list[str]],
) -> tuple[list[LabelledRow], LabelledCounts]:
    """The events in the time range whose codes mean the parent's levels; counts of them."""
    other = _other_levels({r.model_version for r in latest.values()}, model_dir, levels)
    in_time = [r for r in latest.values() if selection.takes_time(r.event_time)]
    rows = [r for r in in_time if r.model_version not in other]
    skipped = dict(counts.skipped)
    if len(rows) < len(in_time):
        skipped["other_levels"] = len(in_time) - len(rows)
    positives = sum(r.label for r in rows)
    return rows, replace(
        counts,
        events=len(rows),
        positives=positives,
        negatives=len(rows) - positives,
        skipped=skipped,
    )


def _other_levels(versions: set[str], model_dir: Path, levels: Mapping[str, list[str]]) -> set[str]:
    # a version's categorical codes index its own levels: other levels, other meanings
    other = set()
    for version in versions:
        path = model_dir / version / MANIFEST_FILE
        if _VERSION_NAME.fullmatch(version) and path.is_file():
            own = {f["name"]: f["levels"] for f in read_manifest(path)["features"] if "levels" in f}
            if own != dict(levels):
                other.add(version)
    return other


def _check_enough(y: Matrix, cut: int) -> None:
    if len(y) < MIN_EVENTS:
        raise NotEnoughLabels(f"{len(y)} labelled events selected, at least {MIN_EVENTS} needed")
    for part, labels in (("training rows", y[:cut]), ("holdout", y[cut:])):
        positives = int(labels.sum())
        if positives in (0, len(labels)):
            missing = "positive" if positives == 0 else "negative"
            raise NotEnoughLabels(f"no {missing} label in the {part} ({len(labels)} events)")


def _lineage(
    settings: Settings, selection: Selection, counts: LabelledCounts, holdout_times: Matrix
) -> dict[str, Any]:
    """The manifest's ``lineage`` without the models' names and metrics."""
    partitions = [
        {"partition": p, "from_offset": lo, "to_offset": hi}
        for p, (lo, hi) in counts.offsets.items()
    ]
    label_counts = {k: v for k, v in asdict(counts).items() if k != "offsets"}
    source = {"topic": settings.topic_labelled, "partitions": partitions}
    return {
        "parent": "",
        "source": source | {"since": selection.since, "until": selection.until},
        "label_counts": label_counts,
        "holdout": {"rows": len(holdout_times), "start_time": int(holdout_times[0])},
    }
