"""The joiner's faust app on its own event loop in a thread, for the demo and in-process tests.

``streamscore join`` runs the app as a faust worker instead
(:func:`streams.feedback.app.run_joiner`).
"""

from __future__ import annotations

import asyncio
import threading

import faust

from streams.config import Settings
from streams.errors import StreamscoreError
from streams.feedback.app import build_app
from streams.feedback.processor import JoinProcessor


class BackgroundJoiner:
    """The join app on its own event loop in a thread: for the demo and in-process tests.

    >>> with BackgroundJoiner(settings, partitions=4) as joiner:   # doctest: +SKIP
    ...     wait_until(lambda: joiner.processor.join.counts.joined >= 10)
    """

    def __init__(self, settings: Settings, partitions: int, topic_allow_declare: bool = True):
        self.settings = settings
        self.partitions = partitions
        self.topic_allow_declare = topic_allow_declare
        self.processor: JoinProcessor | None = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app: faust.App | None = None
        self._thread = threading.Thread(target=self._run, name="joiner", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()/stop()
            self.error = exc
            self._started.set()

    async def _main(self) -> None:
        # the app is built on this thread's loop: faust binds to the loop it starts on
        app, self.processor = build_app(
            self.settings, self.partitions, topic_allow_declare=self.topic_allow_declare
        )
        self._app = app
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        await app.start()
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await app.stop()

    def start(self, deadline_s: float = 60.0) -> BackgroundJoiner:
        """Start and wait until the app is up (not necessarily assigned partitions)."""
        self._thread.start()
        if not self._started.wait(deadline_s) or self.error is not None:
            raise StreamscoreError(f"joiner did not start: {self.error}") from self.error
        return self

    @property
    def healthy(self) -> bool:
        """False once the thread ended or the app crashed."""
        return self._thread.is_alive() and not (self._app is not None and self._app.crashed)

    def stop(self, deadline_s: float = 60.0) -> None:
        """Stop the app (it commits what it processed) and wait for the thread."""
        if self._thread.is_alive() and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(deadline_s)
        if self.error is None and self._app is not None and self._app.crashed:
            self.error = self._app.crash_reason or StreamscoreError("app crashed")
        if self.error is not None:
            raise StreamscoreError(f"joiner failed: {self.error}") from self.error

    def __enter__(self) -> BackgroundJoiner:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
