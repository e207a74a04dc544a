"""Model reloading without a restart, in the background: scoring never waits for a load.

Every ``model_reload_s`` the scorer asks :meth:`ModelReloader.poll` between batches.
If ``models/CURRENT`` (or the pinned ``model_version``) names a version other than
the one in use, or ``models/CHALLENGERS`` other challengers (the first
``challengers_max``; :mod:`streams.model.registry`), a background thread loads what is
new: reading and checking the manifest and booster, and with ``predictor=auto`` or
``compiled`` compiling the trees (~4 s with gcc, :mod:`streams.model.compiled`).
Meanwhile the scorer goes on scoring with the models it has; a later ``poll`` hands
over the loaded :class:`~streams.scoring.challengers.ModelSet` and the scorer swaps it
in between two batches. A champion that fails to load is logged and the scorer keeps
its models; a challenger that fails (or whose categorical levels differ from the
champion's) is logged and left out. Both are tried again at the next check.

>>> reloader = ModelReloader(settings, load=lambda v: load(settings, v))  # doctest: +SKIP
>>> models = reloader.poll(ModelSet(v1))  # None until something new is loaded  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from streams.config import Settings
from streams.errors import ModelError
from streams.model.artifact import Model, current_version, load_model
from streams.model.history import record_change
from streams.model.registry import (
    Challenger,
    read_challengers,
    write_challengers,
)
from streams.scoring.challengers import LoadedChallenger, ModelSet

log = logging.getLogger(__name__)


class ModelReloader:
    """Checks for a new model version every ``model_reload_s`` and loads it in a thread.

    ``load`` turns a version into a checked :class:`~streams.model.artifact.Model` or raises
    :class:`~streams.errors.ModelError`; any other exception is a bug and is raised
    by :meth:`poll`, in the scorer's thread. ``refused`` is called at each check whose
    champion is not (re)loaded (``models/`` emptied, ``CURRENT`` naming a missing version,
    a corrupted file), as the log line ``model not (re)loaded``: e.g. a counter's ``inc``.
    """

    def __init__(
        self,
        settings: Settings,
        load: Callable[[str], Model],
        refused: Callable[[], object] = lambda: None,
    ) -> None:
        self.interval_s = settings.model_reload_s
        self._refused = refused
        self._pinned = settings.model_version
        self._model_dir = settings.model_dir
        self._max = settings.challengers_max
        self._load = load
        self._next_check = time.monotonic() + self.interval_s
        self._loading: Future[ModelSet] | None = None
        self._loading_version: str | None = None
        self._from: tuple[object, ...] = ()  # the state the load started from

    @property
    def loading(self) -> bool:
        """True while a version is being loaded in the background."""
        return self._loading is not None

    def poll(self, current: ModelSet) -> ModelSet | None:
        """Between batches, never blocking: newly loaded models to swap in, or None.

        ``current``: the models in use (a None champion: the fallback rules).
        """
        if self._loading is not None:
            return self._collect(self._loading) if self._loading.done() else None
        if self.interval_s <= 0 or time.monotonic() < self._next_check:
            return None
        self._next_check = time.monotonic() + self.interval_s
        try:
            wanted = self._pinned or current_version(self._model_dir)
            challengers = wanted_challengers(self._model_dir, self._max, wanted)
        except ModelError as exc:
            in_use = current.state[0]
            log.warning("model not (re)loaded", extra={"error": str(exc), "in_use": in_use})
            self._refused()
            return None
        state = (wanted, tuple((c.version, c.role, c.fraction) for c in challengers))
        if state != current.state:
            log.info("model loading", extra={"version": wanted, "in_use": current.state[0]})
            self._loading_version, self._from = wanted, current.state
            self._loading = self._start(lambda: self.load_set(current, wanted, challengers))
        return None

    def load_set(self, current: ModelSet, wanted: str, challengers: list[Challenger]) -> ModelSet:
        """The champion ``wanted`` and the challengers that load, reusing loaded models."""
        have = {c.version: c.model for c in current.challengers}
        if current.champion is not None:
            have[current.champion.version] = current.champion
        champion = have.get(wanted) or self._load(wanted)
        loaded = []
        for c in challengers:
            try:
                model = have.get(c.version) or self._load(c.version)
                check_challenger(champion, model)
            except ModelError as exc:
                log.warning(
                    "challenger not loaded", extra={"version": c.version, "error": str(exc)}
                )
                continue
            loaded.append(LoadedChallenger(model, c.role, c.fraction))
        return ModelSet(champion, tuple(loaded))

    def _start(self, work: Callable[[], ModelSet]) -> Future[ModelSet]:
        future: Future[ModelSet] = Future()

        def run() -> None:
            try:
                future.set_result(work())
            except BaseException as exc:  # handed to poll(): ModelError logged, others raised
                future.set_exception(exc)

        # a daemon: a stopping scorer does not wait for a compile whose model it drops
        # (the compiled cache is written atomically, streams/compiled.py)
        threading.Thread(target=run, name="model-loader", daemon=True).start()
        return future

    def _collect(self, future: Future[ModelSet]) -> ModelSet | None:
        self._loading = None
        try:
            models = future.result()
        except ModelError as exc:
            extra = {"error": str(exc), "version": self._loading_version}
            log.warning("model not (re)loaded", extra=extra)
            self._refused()
            return None
        # the same as in use (a challenger failed again): no swap, a canary keeps its guard
        return None if models.state == self._from else models


def wanted_challengers(model_dir: Path, most: int, champion: str) -> list[Challenger]:
    """The challengers ``models/CHALLENGERS`` names, the champion left out, at most ``most``."""
    if most <= 0:
        return []
    return [c for c in read_challengers(model_dir) if c.version != champion][:most]


def check_challenger(champion: Model, challenger: Model) -> None:
    """A challenger scores the champion's feature matrix: its categorical levels must be
    the champion's (ModelError if not)."""
    if challenger.assembler.levels != champion.assembler.levels:
        raise ModelError(
            f"challenger {challenger.version}: its categorical levels differ from "
            f"champion {champion.version}'s (a challenger scores the champion's features)"
        )
    if challenger.features is not champion.features:
        raise ModelError(
            f"challenger {challenger.version}: its features differ from champion "
            f"{champion.version}'s (a challenger scores the champion's features)"
        )


def load(settings: Settings, version: str | None) -> Model:
    """Load ``version`` with the predictor the settings ask for (ModelError if it fails)."""
    predictor = settings.predictor
    cache = None if predictor == "lightgbm" else settings.compiled_model_dir
    model = load_model(
        settings.model_dir, version, cache, compiled_required=predictor == "compiled"
    )
    return model


def load_or_fallback(settings: Settings) -> ModelSet:
    """The champion (None: the fallback, when it cannot load and it is not required),
    the challengers that load, and the ``fallback_version`` model (None: the rules)."""
    fallback = load_fallback(settings)
    try:
        champion = load(settings, settings.model_version)
    except ModelError:
        if settings.model_required:
            raise
        using = fallback.version if fallback is not None else "fallback rules"
        log.exception(f"model not loaded; scoring by {using} (model_required=false)")
        return ModelSet(None, fallback=fallback)
    if fallback is not None:
        try:
            check_challenger(champion, fallback)  # it scores the champion's features too
        except ModelError:
            log.exception("fallback model not used; the rules are the fallback")
            fallback = None
    try:
        wanted = wanted_challengers(settings.model_dir, settings.challengers_max, champion.version)
    except ModelError:
        log.exception("models/CHALLENGERS not read; scoring without challengers")
        return ModelSet(champion, fallback=fallback)
    reloader = ModelReloader(settings, lambda v: load(settings, v))
    loaded = reloader.load_set(ModelSet(champion), champion.version, wanted)
    return replace(loaded, fallback=fallback)


def load_fallback(settings: Settings) -> Model | None:
    """The ``fallback_version`` model, or None (not set, or it cannot load: the rules)."""
    if settings.fallback_version is None:
        return None
    try:
        return load(settings, settings.fallback_version)
    except ModelError:
        log.exception("fallback model not loaded; the rules are the fallback")
        return None


def stop_canary(settings: Settings, version: str, evidence: dict[str, float | int]) -> None:
    """The guard stopped ``version``'s canary: ``models/CHALLENGERS`` keeps it as a shadow
    (a restarted scorer does not start it again) and ``HISTORY.jsonl`` records why."""
    model_dir = settings.model_dir
    now = read_challengers(model_dir)
    demoted = [
        Challenger(c.version, "shadow") if c.version == version and c.role == "canary" else c
        for c in now
    ]
    if demoted != now:
        write_challengers(model_dir, demoted)
    actor = settings.actor or f"scorer:{settings.scorer_instance_id}"
    record_change(
        model_dir, "canary_stopped", version, actor=actor, reason="canary guard", evidence=evidence
    )
