"""Shared pytest fixtures.

``real_broker``: one real Apache Kafka broker (:class:`streams.dev.realbroker.RealBroker`) for
the whole session. It is started lazily, only when a test requests the fixture (so a run
without such tests starts no JVM), and stopped at session end. The first start may fetch
Kafka's jars with Maven into ``~/.cache/streamscore``. Tests using it are marked
``@pytest.mark.realbroker``; deselect them with ``-m "not realbroker"``. The broker is
shared, so each test should use its own topic and group names.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.dev.realbroker import RealBroker


@pytest.fixture(scope="session")
def real_broker() -> Iterator[RealBroker]:
    """A started single-node Kafka broker, shared by the session."""
    with RealBroker() as broker:
        yield broker
