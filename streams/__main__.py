"""``python -m streams ...`` is the same as the ``streamscore`` command."""

from streams.cli import main

raise SystemExit(main())
