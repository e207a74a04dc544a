"""The scoring path: events → scores | events.dlq, micro-batched.

:mod:`~streams.scoring.pipeline` is the pure core (a batch of raw records in, output
records out); :mod:`~streams.scoring.scorer` is the process loop around it (poll,
score, produce, commit through :mod:`streams.kafka.batch`, drift, metrics, model
reloads). Imports everything below it: monitoring, model, kafka, ops, contract.

- :mod:`~streams.scoring.score_records`: the ``scores`` record, encoded per batch;
- :mod:`~streams.scoring.reload`: new model versions loaded in the background;
"""
