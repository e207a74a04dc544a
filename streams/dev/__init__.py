"""Development tools: generated data, the demo, training, a local Apache Kafka, test doubles.

Never imported by the packages below it (a test checks): production code runs
without them. The CLI (:mod:`streams.cli`) offers them as commands.

- :mod:`~streams.dev.generator`: realistic card-payment events, fraud, drift, feedback;
- :mod:`~streams.dev.messy`: messy input (the bad-input policy's cases);
- :mod:`~streams.dev.produce`: ``streamscore produce``;
- :mod:`~streams.dev.demo`: ``streamscore demo`` on the embedded broker;
- :mod:`~streams.dev.training`: ``streamscore train`` on generated data;
- :mod:`~streams.dev.models`: copies of the shipped model under other names;
- :mod:`~streams.dev.realbroker`: a single-node Apache Kafka from Maven jars;
- :mod:`~streams.dev.memory_io`: the scorer's Kafka I/O in memory, for tests and benchmarks;
- :mod:`~streams.dev.memory_spill`: the velocity state's spill store in a dict, for tests;
- :mod:`~streams.dev.local`: fresh settings, child-process environments, waiting with a deadline.
"""
