"""Model reloading without a restart, in the background: scoring never waits for a load.

Every ``model_reload_s`` the scorer asks :meth:`ModelReloader.poll` between batches.
If ``models/CURRENT`` (or the pinned ``model_version``) names a version other than
the one in use, a background thread loads it: reading and checking the manifest and
booster, and with ``predictor=auto`` or ``compiled`` compiling the trees (~4 s with
gcc, :mod:`streams.model.compiled`). Meanwhile the scorer goes on scoring with the model it
has; a later ``poll`` hands over the loaded model and the scorer swaps it in between
two batches. A version that fails to load is logged and the scorer keeps its model;
it is tried again at the next check.

>>> reloader = ModelReloader(settings, load=lambda v: load(settings, v))  # doctest: +SKIP
>>> model = reloader.poll(current="v1")  # None until a new version is loaded  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from streams.config import Settings
from streams.errors import ModelError
from streams.model.artifact import Model, current_version, load_model

log = logging.getLogger(__name__)


class ModelReloader:
    """Checks for a new model version every ``model_reload_s`` and loads it in a thread.

    ``load`` turns a version into a checked :class:`~streams.model.artifact.Model` or raises
    :class:`~streams.errors.ModelError`; any other exception is a bug and is raised
    by :meth:`poll`, in the scorer's thread.
    """

    def __init__(self, settings: Settings, load: Callable[[str], Model]) -> None:
        self.interval_s = settings.model_reload_s
        self._pinned = settings.model_version
        self._model_dir = settings.model_dir
        self._load = load
        self._next_check = time.monotonic() + self.interval_s
        self._loading: Future[Model] | None = None
        self._loading_version: str | None = None

    @property
    def loading(self) -> bool:
        """True while a version is being loaded in the background."""
        return self._loading is not None

    def poll(self, current: str | None) -> Model | None:
        """Between batches, never blocking: a newly loaded model to swap in, or None.

        ``current`` is the version in use (None: the fallback rules).
        """
        if self._loading is not None:
            return self._collect(self._loading) if self._loading.done() else None
        if self.interval_s <= 0 or time.monotonic() < self._next_check:
            return None
        self._next_check = time.monotonic() + self.interval_s
        try:
            wanted = self._pinned or current_version(self._model_dir)
        except ModelError as exc:
            log.warning("model not (re)loaded", extra={"error": str(exc), "in_use": current})
            return None
        if wanted != current:
            log.info("model loading", extra={"version": wanted, "in_use": current})
            self._loading, self._loading_version = self._start(wanted), wanted
        return None

    def _start(self, version: str) -> Future[Model]:
        future: Future[Model] = Future()

        def work() -> None:
            try:
                future.set_result(self._load(version))
            except BaseException as exc:  # handed to poll(): ModelError logged, others raised
                future.set_exception(exc)

        # a daemon: a stopping scorer does not wait for a compile whose model it drops
        # (the compiled cache is written atomically, streams/compiled.py)
        threading.Thread(target=work, name="model-loader", daemon=True).start()
        return future

    def _collect(self, future: Future[Model]) -> Model | None:
        self._loading = None
        try:
            return future.result()
        except ModelError as exc:
            extra = {"error": str(exc), "version": self._loading_version}
            log.warning("model not (re)loaded", extra=extra)
            return None


def load(settings: Settings, version: str | None) -> Model:
    """Load ``version`` with the predictor the settings ask for (ModelError if it fails)."""
    predictor = settings.predictor
    cache = None if predictor == "lightgbm" else settings.compiled_model_dir
    return load_model(settings.model_dir, version, cache, compiled_required=predictor == "compiled")


def load_or_fallback(settings: Settings) -> Model | None:
    """The model, or None (fallback rules) when it cannot load and it is not required."""
    try:
        return load(settings, settings.model_version)
    except ModelError:
        if settings.model_required:
            raise
        log.exception("model not loaded; scoring by fallback rules (model_required=false)")
        return None
