"""``streamscore top`` in a thread of another command (the demo shows it while it runs).

>>> import io
>>> out = io.StringIO()
>>> with BackgroundTop(["localhost:1"], Thresholds(0.25, 0.05), 60.0, False, out):
...     pass
>>> out.getvalue().splitlines()[-1]   # the last frame, drawn after stop
'top: no target up (localhost:1 down)'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TextIO

from streams.views.top import TopSession, watch
from streams.views.top_frame import Frame, Thresholds

log = logging.getLogger(__name__)


class BackgroundTop:
    """The view of ``targets`` redrawn (``live``) or a plain line printed every
    ``interval_s`` on ``out``, from :meth:`start` until :meth:`stop`."""

    def __init__(
        self,
        targets: Sequence[str],
        thresholds: Thresholds,
        interval_s: float,
        live: bool,
        out: TextIO,
    ) -> None:
        self.session = TopSession(targets, thresholds, timeout_s=min(interval_s, 2.0))
        self.interval_s, self.live, self.out = interval_s, live, out
        self.frame: Frame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="top", daemon=True)

    def _run(self) -> None:
        try:
            self.frame = watch(self.session, self.interval_s, self._stop, self.live, self.out)
        except Exception:  # the view must never take the command it watches down with it
            log.warning("the live view stopped", exc_info=True)

    def start(self) -> BackgroundTop:
        """Read and draw the first frame, then keep going in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> Frame | None:
        """Draw a last frame and end the thread; that frame (None if the view failed)."""
        self._stop.set()
        self._thread.join(10.0)
        return self.frame

    def __enter__(self) -> BackgroundTop:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
