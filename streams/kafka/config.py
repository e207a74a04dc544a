"""Settings mapped to the Kafka clients' configs: librdkafka's and faust/aiokafka's.

The one place a setting becomes a client option, security included, so TLS and SASL
apply to every client streamscore builds.

>>> s = Settings(bootstrap_servers="127.0.0.1:9092", security_protocol="SSL")
>>> conf = librdkafka_config(s, **{"group.id": "g"})
>>> conf["bootstrap.servers"], conf["security.protocol"], conf["group.id"]
('127.0.0.1:9092', 'SSL', 'g')
"""

from __future__ import annotations

from typing import Any

from streams.config import Settings
from streams.errors import ConfigError


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
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": _require_resolved(settings),
        "security.protocol": settings.security_protocol,
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
