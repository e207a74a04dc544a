"""The model lifecycle: retrain from ``labelled``, the registry's commands, the
promotion gate (docs/lifecycle.md).

- :mod:`~streams.lifecycle.labelled_data`: ``labelled`` records → the latest label per
  event, as a training matrix (pure);
- :mod:`~streams.lifecycle.retrain`: ``streamscore retrain``;
- :mod:`~streams.lifecycle.gate`: the promotion gate's bootstrap evidence (pure);
- :mod:`~streams.lifecycle.commands`: ``streamscore models list|show|promote|rollback|retire``.
"""
