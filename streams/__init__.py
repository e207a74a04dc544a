"""streamscore: real-time ML scoring and feedback on Kafka.

Nothing starts at import time: processors, brokers and metrics servers are built
and started explicitly by :mod:`streams.cli`.
"""

__version__ = "0.1.0"
