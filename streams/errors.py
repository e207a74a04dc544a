"""The one root exception of streamscore and its few subclasses.

Exceptions are for bugs and infrastructure (broker down, model missing, bad
configuration). Bad *input records* are never exceptions: they are values
(see :mod:`streams.contract.validation` and :mod:`streams.contract.dead_letters`).

Always chain: ``raise ModelError("...") from exc``.
"""


class StreamscoreError(Exception):
    """Root of every error streamscore raises on purpose."""


class ConfigError(StreamscoreError):
    """Settings are missing or inconsistent."""


class BrokerError(StreamscoreError):
    """A Kafka broker could not be started, reached or used."""


class AuthError(BrokerError):
    """The broker refused the credentials, or the principal lacks an ACL the command needs:
    retrying cannot help, so the command stops with what to fix."""


class ModelError(StreamscoreError):
    """A model artifact or its manifest is missing, unreadable or inconsistent."""


class CommitWedged(BrokerError):
    """A transaction's commit never returned (librdkafka can block in
    ``send_offsets_to_transaction`` past its timeout after the group coordinator's broker
    went away). The process must end: the blocked call cannot be interrupted."""
