"""The scoring path: events → scores | events.dlq, micro-batched.

:mod:`~streams.scoring.pipeline` is the pure core (a batch of raw records in, output
records out); :mod:`~streams.scoring.scorer` is the process loop around it (poll,
score, produce, commit through :mod:`streams.kafka.batch`, drift, metrics, model
reloads). Imports everything below it: monitoring, model, kafka, ops, contract.

- :mod:`~streams.scoring.score_records`: the ``scores`` and ``scores.shadow`` records,
  encoded per batch;
- :mod:`~streams.scoring.challengers`: shadows, the canary's accounts, its guard (pure);
- :mod:`~streams.scoring.reload`: new model versions (champion, challengers, fallback)
  loaded in the background;
- :mod:`~streams.scoring.scorer_io`: what the loop needs of its Kafka I/O;
- :mod:`~streams.scoring.side_outputs`: drift alerts and the canary guard's stop, added
  to a batch's outputs;
- :mod:`~streams.scoring.account_state`: the velocity state per partition, its
  changelog records (:mod:`~streams.scoring.state_changelog`) and undo
  (:mod:`~streams.scoring.state_undo`), pure; where a partition's state comes from on
  assignment (:mod:`~streams.scoring.state_restore`), its local store of accounts out
  of memory and checkpoints (:mod:`~streams.scoring.state_store`, RocksDB) and which
  accounts move there (:mod:`~streams.scoring.account_spill`);
"""
