"""The model lifecycle: retrain from ``labelled``, the registry's commands, the
promotion gate, the autopilot (docs/lifecycle.md).

- :mod:`~streams.lifecycle.labelled_data`: ``labelled`` records → the latest label per
  event, as a training matrix (pure);
- :mod:`~streams.lifecycle.retrain`, :mod:`~streams.lifecycle.retrain_command`:
  ``streamscore retrain``;
- :mod:`~streams.lifecycle.mlflow_log`: a retrain as an MLflow run (optional extra);
- :mod:`~streams.lifecycle.gate`: the promotion gate's paired bootstrap (pure);
- :mod:`~streams.lifecycle.evidence`: the labels two versions both scored, from Kafka;
- :mod:`~streams.lifecycle.commands`, :mod:`~streams.lifecycle.listing`:
  ``streamscore models list|show|promote|rollback|retire|shadow|canary|unshadow|autopilot``;
- :mod:`~streams.lifecycle.autopilot`: a concept alert → retrain → shadow.
"""
