"""The feedback path: scores + feedback → labelled | feedback.unmatched | feedback.dlq.

:mod:`~streams.feedback.join` is the pure join over a mapping (state per event id);
:mod:`~streams.feedback.processor` turns raw records into its inputs and its outputs
into records; :mod:`~streams.feedback.app` is the faust-streaming app and worker that
runs it, with the join state in a faust Table (RocksDB, changelog topic).
"""
