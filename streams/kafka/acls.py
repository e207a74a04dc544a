"""Access control: ACLs to grant, and a check of what a principal may do.

A client that is refused says so itself in most cases (librdkafka's errors, mapped to
:class:`~streams.errors.AuthError` in :mod:`streams.kafka.config`); :func:`check_access`
asks first for clients that would wait silently instead (aiokafka, for a group it may
not join).

>>> Acl("User:app", "TOPIC", "events", "READ").render()
'User:app READ TOPIC events (literal)'
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.config import Settings
from streams.errors import AuthError, BrokerError
from streams.kafka.clients import LIBRDKAFKA_LOG, TIMEOUT_S
from streams.kafka.config import auth_error, denied, librdkafka_config


@dataclass(frozen=True)
class Acl:
    """An ALLOW ACL: ``principal`` (``User:<name>``) may ``operation`` (``READ``, ``WRITE``,
    ``DESCRIBE``, ``CREATE``, ``IDEMPOTENT_WRITE`` ...) on a resource (``TOPIC``, ``GROUP``,
    ``TRANSACTIONAL_ID``, or ``BROKER`` named ``kafka-cluster``: the cluster) named ``name``,
    or on every one whose name starts with it (``prefixed``)."""

    principal: str
    resource: str
    name: str
    operation: str
    prefixed: bool = False

    def render(self) -> str:
        """One line, as docs/security.md lists them."""
        pattern = "prefixed" if self.prefixed else "literal"
        return f"{self.principal} {self.operation} {self.resource} {self.name} ({pattern})"


def create_acls(settings: Settings, acls: Iterable[Acl]) -> None:
    """Create ``acls`` (settings of a principal allowed to alter the cluster: a super user)."""
    from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
    from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

    bindings = [
        AclBinding(
            ResourceType[a.resource],
            a.name,
            ResourcePatternType.PREFIXED if a.prefixed else ResourcePatternType.LITERAL,
            a.principal,
            "*",
            AclOperation[a.operation],
            AclPermissionType.ALLOW,
        )
        for a in dict.fromkeys(acls)  # once each: the client refuses duplicates
    ]
    admin = AdminClient(librdkafka_config(settings, logger=LIBRDKAFKA_LOG))
    for binding, fut in admin.create_acls(bindings, request_timeout=TIMEOUT_S).items():
        try:
            fut.result(timeout=TIMEOUT_S)
        except Exception as exc:  # KafkaException, or a timeout of the future
            raise BrokerError(f"cannot create ACL {binding}: {exc}") from exc


def check_access(settings: Settings, group: str, read: Iterable[str], write: Iterable[str]) -> None:
    """AuthError naming the first missing ACL among: READ on ``group`` and on the ``read``
    topics, WRITE on the ``write`` topics (Kafka's authorized operations, KIP-430). For
    clients that would not say so themselves (aiokafka waits for a group it may not join)."""
    from confluent_kafka import TopicCollection

    admin = AdminClient(librdkafka_config(settings, logger=LIBRDKAFKA_LOG))
    wanted = {**{t: "WRITE" for t in write}, **{t: "READ" for t in read}}
    described = admin.describe_topics(
        TopicCollection(list(wanted)), request_timeout=TIMEOUT_S, include_authorized_operations=True
    )
    for topic, fut in described.items():
        _require(settings, fut, wanted[topic], f"topic {topic}")
    deadline = time.monotonic() + TIMEOUT_S
    while True:  # a group's coordinator may be loading or moving: asked again
        fut = admin.describe_consumer_groups(
            [group], request_timeout=TIMEOUT_S, include_authorized_operations=True
        )[group]
        try:
            return _require(settings, fut, "READ", f"consumer group {group}")
        except AuthError:
            raise
        except BrokerError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)  # back off before asking the (new) coordinator again


def _require(settings: Settings, fut: Any, operation: str, what: str) -> None:
    """``fut``'s description allows ``operation``, else AuthError; BrokerError if it
    could not be described for another reason."""
    try:
        allowed = {op.name for op in fut.result(timeout=TIMEOUT_S).authorized_operations or ()}
    except KafkaException as exc:
        refused = auth_error(exc.args[0], settings, f"describing {what}")
        if refused is not None:
            raise refused from exc
        raise BrokerError(f"cannot describe {what}: {exc}") from exc
    if operation not in allowed and "ALL" not in allowed:
        raise denied(settings, f"{operation} on {what}")
