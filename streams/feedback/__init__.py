"""The feedback path: scores + feedback → labelled | feedback.unmatched | feedback.dlq.

- :mod:`~streams.feedback.join`: the pure join over a store of entries (one per event id);
- :mod:`~streams.feedback.entries`: the entries' MessagePack form, and the fast score decoder;
- :mod:`~streams.feedback.store`: the store protocol, and the in-memory store (tests, demo);
- :mod:`~streams.feedback.tables`: the store over faust's RocksDB table, its expiry index
  and its bulk restore;
- :mod:`~streams.feedback.processor`: raw records in, records out, a fetch at a time;
- :mod:`~streams.feedback.app`: the faust-streaming app and worker that run it;
  :mod:`~streams.feedback.background` runs it in a thread (tests, the demo);
- :mod:`~streams.feedback.examples`: example parsed records for docs and tests.
"""
