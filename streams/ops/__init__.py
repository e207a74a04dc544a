"""What operators read: Prometheus metrics, consumer lag, JSON logs, the HTTP server.

Every metric is declared in :mod:`~streams.ops.metrics`; :mod:`~streams.ops.http`
serves ``/metrics``, ``/healthz`` and ``/readyz``; :mod:`~streams.ops.lag` reads
consumer lag from Kafka (through :mod:`streams.kafka`); :mod:`~streams.ops.logs`
formats log lines as JSON. Imports kafka, contract and config only.
"""
