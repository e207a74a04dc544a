"""What crosses the wire: the records of every topic and the rules for bad input.

Pure (no Kafka client, no model). The bottom of the package: everything else may
import it, it imports nothing of streamscore but :mod:`streams.config` and
:mod:`streams.errors`.

- :mod:`~streams.contract.events`: the event contract's fields, one definition;
- :mod:`~streams.contract.records`: records in and out of a processor, with their origin;
- :mod:`~streams.contract.schemas`: the JSON Schemas in ``schemas/``, loaded once;
- :mod:`~streams.contract.validation`: parse and validate any payload, reason codes;
- :mod:`~streams.contract.wire`: the events hot path, decoded and checked by msgspec;
- :mod:`~streams.contract.dead_letters`: dead-letter records and their replay;
- :mod:`~streams.contract.decisions`: score → approve / review / decline;
- :mod:`~streams.contract.partitioner`: where Kafka's default partitioner puts a key.
"""
