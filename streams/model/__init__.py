"""The model: its inputs, its artifact, its compiled trees, the rules without it.

Pure (no Kafka). Imports :mod:`streams.contract` only.

- :mod:`~streams.model.features`: event fields → the model's feature matrix;
- :mod:`~streams.model.artifact`: load a versioned artifact, check it, predict;
- :mod:`~streams.model.compiled`: the trees compiled to native code;
- :mod:`~streams.model.fallback`: the rules that score when no model can;
- :mod:`~streams.model.reference`: reference statistics of training data (for drift);
- :mod:`~streams.model.metrics`: ROC AUC and log loss of scores against labels.
"""
