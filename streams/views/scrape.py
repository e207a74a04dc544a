"""Read Prometheus ``/metrics`` targets into plain samples.

:func:`fetch` never raises: a target that is down comes back with ``error`` set and
no samples, so a view shows it as down and keeps going. Counters keep the ``_total``
suffix of the exposition (``streamscore_events_scored_total``); the ``_created``
samples are dropped.

>>> text = '''# TYPE streamscore_decisions counter
... streamscore_decisions_total{decision="approve"} 7.0
... streamscore_decisions_total{decision="decline"} 2.0
... streamscore_decisions_created{decision="approve"} 1.7e9
... '''
>>> s = Scrape("localhost:9108", at=0.0, samples=parse(text))
>>> s.total("streamscore_decisions_total"), s.by("streamscore_decisions_total", "decision")
(9.0, {'approve': 7.0, 'decline': 2.0})
>>> parse_targets("localhost:9108, scorer-1:9108")
['localhost:9108', 'scorer-1:9108']
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One exposition line: a sample name, its labels and its value."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Scrape:
    """One read of one target: when (``time.monotonic()``), what, or why not."""

    target: str
    at: float
    samples: Sequence[Sample] = ()
    error: str | None = None
    wall: float = field(default_factory=time.time)  # for people: when it was read

    @property
    def up(self) -> bool:
        """The target answered with metrics."""
        return self.error is None

    def find(self, name: str, **labels: str) -> list[Sample]:
        """The samples called ``name`` whose labels include ``labels``."""
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples :meth:`find` returns (0 when there are none)."""
        return sum(s.value for s in self.find(name, **labels))

    def has(self, name: str) -> bool:
        """Whether the target exports any sample called ``name``."""
        return any(s.name == name for s in self.samples)

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """The samples called ``name``, summed by the value of ``label``."""
        out: dict[str, float] = {}
        for s in self.find(name, **labels):
            key = s.labels.get(label, "")
            out[key] = out.get(key, 0.0) + s.value
        return out


def parse(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition, without ``_created`` ones."""
    # here, not at the top: `streamscore --help` imports this module, and pays only for use
    from prometheus_client.parser import text_string_to_metric_families

    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    ]


def url_of(target: str) -> str:
    """``host:port`` (or a full URL) -> the URL of its metrics.

    >>> url_of("localhost:9108"), url_of("http://scorer:9108/metrics")
    ('http://localhost:9108/metrics', 'http://scorer:9108/metrics')
    """
    if "://" in target:
        return target
    return f"http://{target}/metrics"


def fetch(target: str, timeout_s: float = 2.0) -> Scrape:
    """Read one target; a target that cannot be read is a :class:`Scrape` with ``error``."""
    import urllib.request

    at = time.monotonic()
    try:
        with urllib.request.urlopen(url_of(target), timeout=timeout_s) as response:
            text = response.read().decode("utf-8")
        return Scrape(target, at, parse(text))
    except Exception as exc:  # down, refused, not Prometheus: all shown as down
        return Scrape(target, at, error=str(getattr(exc, "reason", exc)))  # URLError's why


def fetch_all(targets: Iterable[str], timeout_s: float = 2.0) -> list[Scrape]:
    """Read every target at once (a slow one delays the others by its timeout at most)."""
    from concurrent.futures import ThreadPoolExecutor

    names = list(targets)
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(len(names), 8)) as pool:
        return list(pool.map(lambda t: fetch(t, timeout_s), names))


def parse_targets(spec: str) -> list[str]:
    """``host:port,host:port`` -> the targets, blanks dropped."""
    return [t.strip() for t in spec.split(",") if t.strip()]
