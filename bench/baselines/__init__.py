"""Framework baselines for ``bench.throughput``: the same scoring work in faust-streaming
(:mod:`bench.baselines.faust_pipeline`) and Quix Streams (:mod:`bench.baselines.quix_pipeline`).

Quix Streams needs an older confluent-kafka than the project pins, so it runs in its own
venv (``bench/baselines/quix-venv.sh``); nothing in this package imports the project's
Kafka layer at module level, so :mod:`bench.baselines.common` and the Quix pipeline also
import there.
"""
