"""The exit codes of ``streamscore``: what each means and what to do.

>>> EXIT_WEDGED, EXIT_STORE
(3, 4)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
"""An error streamscore names (broker unreachable, topic missing, model unloadable, ...)."""
EXIT_USAGE = 2
"""Bad usage or invalid settings: nothing was started."""
EXIT_WEDGED = 3
"""The scorer's exit code when a transaction's commit never returned (restart it)."""
EXIT_STORE = 4
"""The joiner's exit code when its store could not be written (the same number as
:data:`streams.feedback.health.EXIT_STORE`, which a test checks; imported from there it
would make ``--help`` load the joiner)."""
EXIT_INTERRUPTED = 130
"""Ctrl-C in a command that does not handle it (the processes stop cleanly and exit 0)."""

EPILOG = """\
exit codes:
  0    ok (the scorer and the joiner on SIGTERM/SIGINT too: batch finished, committed)
  1    an error, with what to fix (broker unreachable, topic missing, model unloadable, ...)
  2    bad usage or invalid settings: nothing was started
  3    score: a transaction's commit never returned; restart it (the next one fences it)
  4    join: its store (joiner_data_dir) could not be written; fix the volume, restart
  130  interrupted (Ctrl-C)"""
