"""``streamscore models autopilot``: a concept-drift alert → retrain → a shadow challenger.

The automatic half of the loop, and only that half: it never promotes (promotion is
``streamscore models promote V --gate``, by a person or a job that asks the gate). It
reads ``drift.alerts`` (its own consumer group, ``autopilot_group_id``). A ``concept``
alert on the champion (the joiner saw its log loss shift) starts a wait for labels: once
``retrain_min_labels`` labelled events have an event time at or after the detection (the
label time of the alert's trigger: the new concept's events; those between the change and
its detection are left out), it runs ``streamscore retrain`` on them and enters the new
version as a shadow challenger, recorded in ``HISTORY.jsonl`` with the alert as its
reason. Alerts meanwhile, and alerts on a champion that already
has a challenger the autopilot entered, are logged and skipped: one retrain per change.

>>> pilot = Autopilot(settings)                                   # doctest: +SKIP
>>> pilot.on_alert(alert_record); pilot.step()                     # doctest: +SKIP
'v3'
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from streams.config import Settings
from streams.errors import StreamscoreError
from streams.kafka import make_consumer
from streams.lifecycle.commands import cmd_shadow
from streams.lifecycle.labelled_data import latest_by_event
from streams.lifecycle.retrain import RetrainOptions, Selection, read_labelled, retrain
from streams.model.history import read_history
from streams.model.registry import champion, read_challengers

log = logging.getLogger(__name__)

ACTOR = "autopilot"


@dataclass(frozen=True)
class Pending:
    """A concept change waiting for enough labels to retrain on."""

    champion: str
    since: int  # event time, epoch ms: retrain on labelled events from here (the detection)


class Autopilot:
    """Decides on alerts (:meth:`on_alert`) and acts when labels suffice (:meth:`step`)."""

    def __init__(self, settings: Settings) -> None:
        actor = settings.actor or ACTOR
        self.settings = settings.model_copy(update={"actor": actor})
        self.pending: Pending | None = None

    def on_alert(self, alert: dict[str, Any]) -> bool:
        """Start waiting for labels if ``alert`` is a concept change of the champion that
        no challenger of ours answers yet; True if it did."""
        model_dir = self.settings.model_dir
        champ = champion(model_dir)
        if champ is None or alert.get("signal") != "concept" or alert.get("model_version") != champ:
            return False
        if self.pending is not None or self._answered(champ):
            log.info("concept alert skipped: a retrain is already under way or in shadow")
            return False
        # the detection's label time: every event from then on has the new concept (a
        # concept alert's window counts labels since the previous alert, old ones included)
        since = int(alert["time"])
        self.pending = Pending(champ, since)
        log.warning("concept drift: waiting for labels to retrain", extra={"since": since})
        return True

    def _answered(self, champ: str) -> bool:
        """A challenger the autopilot entered for this champion is still a challenger."""
        current = {c.version for c in read_challengers(self.settings.model_dir)}
        entries = read_history(self.settings.model_dir).entries
        ours = [e for e in entries if e.get("action") == "shadow" and e.get("previous") == champ]
        return any(e.get("actor") == self.settings.actor and e["version"] in current for e in ours)

    def labels_since(self) -> int:
        """Labelled events since the pending change (0 when nothing is pending)."""
        if self.pending is None:
            return 0
        latest, _counts = latest_by_event(read_labelled(self.settings, Selection(), False), None)
        return sum(1 for row in latest.values() if row.event_time >= self.pending.since)

    def step(self) -> str | None:
        """Retrain and enter the shadow if enough labels arrived; the new version, or None."""
        pending = self.pending
        if pending is None or self.labels_since() < self.settings.retrain_min_labels:
            return None
        if champion(self.settings.model_dir) != pending.champion:
            self.pending = None  # someone promoted meanwhile: this change is theirs
            return None
        options = RetrainOptions(selection=Selection(since=pending.since), parent=pending.champion)
        result = retrain(self.settings, options, progress=False)
        version = result.path.name
        reason = f"concept drift alert on {pending.champion} at {pending.since}"
        cmd_shadow(self.settings, argparse.Namespace(version=version, reason=reason, force=False))
        self.pending = None
        log.warning("retrained model in shadow", extra={"version": version, "reason": reason})
        return version


def run_autopilot(settings: Settings, stop: threading.Event) -> int:
    """Read alerts and act until ``stop``; a failed retrain is logged and tried again."""
    pilot = Autopilot(settings)
    consumer = make_consumer(settings, settings.autopilot_group_id)
    consumer.subscribe([settings.topic_drift_alerts])
    next_step, uncommitted = 0.0, False
    try:
        while not stop.is_set():
            for msg in consumer.consume(100, 1.0):
                if msg.error() is None:
                    uncommitted = True
                    if value := msg.value():
                        _take(pilot, value)
            if time.monotonic() >= next_step:
                next_step = time.monotonic() + settings.autopilot_check_s
                try:
                    pilot.step()
                except StreamscoreError as exc:  # e.g. a class missing so far: wait for more
                    log.warning("retrain not done", extra={"error": str(exc)})
            # a pending change's alert is read again after a restart: committed once acted on
            if uncommitted and pilot.pending is None:
                consumer.commit(asynchronous=False)
                uncommitted = False
    finally:
        consumer.close()
    return 0


def _take(pilot: Autopilot, value: bytes) -> None:
    try:
        alert = orjson.loads(value)
    except orjson.JSONDecodeError:
        log.warning("drift alert not JSON: skipped")
        return
    if isinstance(alert, dict):
        pilot.on_alert(alert)
