"""Watching the model in production: data drift, online quality, concept drift.

Pure (no Kafka): fed per micro-batch by the scorer and per label by the joiner.
Imports :mod:`streams.model` and :mod:`streams.contract`. River is used in
:mod:`~streams.monitoring.detectors` only.

- :mod:`~streams.monitoring.drift`: the scorer's drift monitor (PSI, Page-Hinkley,
  missing and unseen rates) over event-count windows;
- :mod:`~streams.monitoring.drift_chunks`: its per-batch aggregates, vectorised;
- :mod:`~streams.monitoring.quality`: rolling quality per model version, concept drift;
- :mod:`~streams.monitoring.detectors`: River's detectors and metrics behind one API;
- :mod:`~streams.monitoring.alerts`: the one ``drift.alerts`` record type.
"""
