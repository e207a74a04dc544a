"""Settings mapped to the Kafka clients' configs: librdkafka's and faust/aiokafka's.

The one place a setting becomes a client option, security included, so TLS and SASL
apply to every client streamscore builds.

>>> s = Settings(bootstrap_servers="127.0.0.1:9092", security_protocol="SSL")
>>> conf = librdkafka_config(s, **{"group.id": "g"})
>>> conf["bootstrap.servers"], conf["security.protocol"], conf["group.id"]
('127.0.0.1:9092', 'SSL', 'g')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

from streams.config import Settings
from streams.errors import AuthError, ConfigError

_ACL_DOC = "docs/security.md"
_DENIED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "a topic",
    KafkaError.GROUP_AUTHORIZATION_FAILED: "a consumer group",
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "a transactional id",
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: "the cluster",
}
"""librdkafka's authorization errors: what the principal may not use."""
_UNTRUSTED = "certificate verify failed"
"""In librdkafka's _SSL error when the broker's certificate is not trusted (or names
another host): a setting to fix, not a broken connection to retry."""
_LOST_IN_HANDSHAKE = "handshake failed: Local:"
"""In librdkafka's _AUTHENTICATION error when the connection broke during the SASL
handshake (transport failure, timeout): the broker never answered, so librdkafka retries."""


def _require_resolved(settings: Settings) -> str:
    if settings.is_embedded:
        raise ConfigError(
            "bootstrap_servers is still 'embedded': start "
            "streams.kafka.embedded.EmbeddedBroker and "
            "pass settings.model_copy(update={'bootstrap_servers': broker.bootstrap})"
        )
    return settings.bootstrap_servers


def librdkafka_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Map settings to a confluent-kafka (librdkafka) config dict, security included.

    ``extra`` entries (librdkafka names, e.g. ``{"group.id": ...}``) are merged last.
    Its ``error_cb`` raises :class:`AuthError` out of the client's ``poll``, ``consume``
    or ``flush`` when the broker refuses the credentials.
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": _require_resolved(settings),
        "security.protocol": settings.security_protocol,
        "error_cb": raise_auth_errors(settings),
    }
    if settings.sasl_mechanism:
        conf["sasl.mechanism"] = settings.sasl_mechanism
    if settings.sasl_username:
        conf["sasl.username"] = settings.sasl_username
    if settings.sasl_password:
        conf["sasl.password"] = settings.sasl_password.get_secret_value()
    if settings.ssl_ca_location:
        conf["ssl.ca.location"] = str(settings.ssl_ca_location)
    if settings.ssl_certificate_location:
        conf["ssl.certificate.location"] = str(settings.ssl_certificate_location)
    if settings.ssl_key_location:
        conf["ssl.key.location"] = str(settings.ssl_key_location)
    if settings.ssl_key_password:
        conf["ssl.key.password"] = settings.ssl_key_password.get_secret_value()
    if "group.id" in extra:  # a consumer: its prefetch queue and fetch wait by settings
        conf["queued.max.messages.kbytes"] = settings.consumer_queue_max_kbytes
        conf["fetch.wait.max.ms"] = settings.consumer_fetch_wait_ms
    conf.update(extra)
    return conf


def faust_config(settings: Settings, *, topic_allow_declare: bool = True) -> dict[str, Any]:
    """Map settings to keyword arguments of ``faust.App`` (aiokafka driver), security included.

    Pass ``topic_allow_declare=False`` on the embedded broker: the mock cluster has no
    CreateTopics, so streamscore creates every topic, changelogs included, beforehand.
    """
    import ssl

    import faust  # imported here: faust is heavy and only the joiner needs it

    kwargs: dict[str, Any] = {
        "broker": ";".join(
            f"kafka://{hp.strip()}" for hp in _require_resolved(settings).split(",")
        ),
        "topic_allow_declare": topic_allow_declare,
        "broker_session_timeout": settings.session_timeout_ms / 1000,
        "broker_heartbeat_interval": settings.session_timeout_ms / 3000,
        "topic_partitions": settings.topic_partitions,
        "web_enabled": False,
    }
    context = None
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.ssl_ca_location) if settings.ssl_ca_location else None
        )
        if settings.ssl_certificate_location:
            context.load_cert_chain(
                str(settings.ssl_certificate_location),
                str(settings.ssl_key_location) if settings.ssl_key_location else None,
                settings.ssl_key_password.get_secret_value() if settings.ssl_key_password else None,
            )
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_password is not None  # checked by Settings
        kwargs["broker_credentials"] = faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    elif context is not None:
        kwargs["broker_credentials"] = faust.SSLCredentials(context)
    return kwargs


def auth_error(
    err: KafkaError, settings: Settings | None = None, where: str = ""
) -> AuthError | None:
    """The one-line :class:`AuthError` for ``err`` if the broker refused the credentials
    or an ACL, or its certificate is not trusted (``where``: what was being done, e.g.
    ``writing to scores``); else None, also for a connection lost mid-handshake."""
    if err.code() == KafkaError._AUTHENTICATION and _LOST_IN_HANDSHAKE not in err.str():
        if settings is None:
            return AuthError(f"the broker refused the credentials ({err.str()}): check them")
        return AuthError(
            f"the broker at {settings.bootstrap_servers} refused the credentials of "
            f"{settings.sasl_username!r} "
            f"({settings.sasl_mechanism}, {settings.security_protocol}): check sasl_username "
            "and sasl_password (STREAMSCORE_SASL_USERNAME, STREAMSCORE_SASL_PASSWORD) and "
            "sasl_mechanism"
        )
    if err.code() == KafkaError._SSL and _UNTRUSTED in err.str():
        at = f" at {settings.bootstrap_servers}" if settings is not None else ""
        return AuthError(
            f"the broker{at} sent a certificate its CA does not vouch for: check "
            "ssl_ca_location (STREAMSCORE_SSL_CA_LOCATION: the CA that signed the brokers' "
            "certificates) and that the address is one the certificate names"
        )
    what = _DENIED.get(err.code())
    if what is None:
        return None
    return denied(settings, f"access to {what} ({err.name()}{', ' + where if where else ''})")


def denied(settings: Settings | None, what: str) -> AuthError:
    """The one-line :class:`AuthError` of a missing ACL: the broker denied ``what``."""
    at = f"the broker at {settings.bootstrap_servers}" if settings is not None else "the broker"
    principal = "the principal"
    if settings is not None and settings.sasl_username:
        principal = f"User:{settings.sasl_username}"
    return AuthError(
        f"{at} denied {principal} {what}: grant it the ACLs {_ACL_DOC} lists for this command"
    )


def raise_auth_errors(settings: Settings) -> Callable[[KafkaError], None]:
    """A librdkafka ``error_cb``: an authentication or authorization failure raises
    :class:`AuthError` (retrying cannot help); other errors are librdkafka's to retry."""

    def error_cb(err: KafkaError) -> None:
        exc = auth_error(err, settings)
        if exc is not None:
            raise exc

    return error_cb
