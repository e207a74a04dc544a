"""Settings: env prefix, CLI overrides, validation, and the two client-config mappings."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from pydantic import SecretStr, ValidationError

from streams.cli import build_settings, parser
from streams.config import Settings
from streams.errors import AuthError, ConfigError
from streams.kafka.config import auth_error, faust_config, librdkafka_config
from streams.model.velocity import DAY_MS, HOUR_MS, VelocityConfig
from streams.scoring.account_state import account_states


def test_env_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMSCORE_TOPIC_EVENTS", "from-env")
    monkeypatch.setenv("STREAMSCORE_BATCH_MAX_SIZE", "77")
    args = parser().parse_args(["train", "--batch-max-size", "55"])
    s = build_settings(args)
    assert s.topic_events == "from-env"
    assert s.batch_max_size == 55


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.topic_events = "x"  # type: ignore[misc]


def test_defaults_name_the_design_topics() -> None:
    s = Settings()
    assert s.all_topics()[:4] == ["events", "scores", "events.dlq", "feedback"]
    assert "labelled" in s.all_topics() and "drift.alerts" in s.all_topics()
    assert s.is_embedded


def test_sasl_needs_credentials() -> None:
    with pytest.raises(ValidationError, match="sasl"):
        Settings(security_protocol="SASL_SSL")


def test_librdkafka_mapping_carries_security_and_secrets() -> None:
    s = Settings(
        bootstrap_servers="b1:9093,b2:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=SecretStr("hunter2"),
    )
    conf = librdkafka_config(s, **{"group.id": "g"})
    assert conf["bootstrap.servers"] == "b1:9093,b2:9093"
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.password"] == "hunter2"
    assert conf["group.id"] == "g"
    assert "hunter2" not in repr(s)  # SecretStr keeps it out of logs


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        (
            "SASL authentication error: Authentication failed during authentication due to "
            "invalid credentials with SASL mechanism SCRAM-SHA-512",
            True,
        ),
        (
            "SASL PLAIN mechanism handshake failed: Broker: Unsupported SASL mechanism: "
            "broker's supported mechanisms: SCRAM-SHA-512",
            True,
        ),
        (
            "SASL SCRAM-SHA-512 mechanism handshake failed: Local: Broker transport failure: "
            "broker's supported mechanisms: (n/a)",
            False,
        ),
    ],
)
def test_only_the_brokers_refusal_is_an_auth_error(message: str, refused: bool) -> None:
    # A connection lost mid-handshake is librdkafka's to retry, not a credentials error.
    err = KafkaError(KafkaError._AUTHENTICATION, message)
    exc = auth_error(
        err,
        Settings(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="svc",
            sasl_password=SecretStr("pw"),
        ),
    )
    assert (exc is not None) == refused
    if exc is not None:
        assert isinstance(exc, AuthError) and "sasl_password" in str(exc)


def test_faust_mapping() -> None:
    s = Settings(
        bootstrap_servers="b1:9093,b2:9093",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="svc",
        sasl_password=SecretStr("pw"),
    )
    kw = faust_config(s, topic_allow_declare=False)
    assert kw["broker"] == "kafka://b1:9093;kafka://b2:9093"
    assert kw["topic_allow_declare"] is False
    assert kw["broker_credentials"].username == "svc"


def test_unresolved_embedded_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="EmbeddedBroker"):
        librdkafka_config(Settings())


def test_the_velocity_settings_are_the_velocity_configs_defaults() -> None:
    s = Settings()
    config = VelocityConfig()
    assert (s.velocity_lateness_ms, s.velocity_retention_ms) == (HOUR_MS, 30 * DAY_MS)
    assert (config.lateness_ms, config.retention_ms) == (HOUR_MS, 30 * DAY_MS)
    assert account_states(Settings(velocity_lateness_ms=5)).config.lateness_ms == 5
    assert s.compacted_topics() == ["streamscore-scorer-accounts-changelog"]
    assert set(s.compacted_topics()) <= set(s.all_topics())
    # each scorer group its own velocity state, unless told otherwise
    assert Settings(scorer_group_id="g2").topic_accounts_changelog == "g2-accounts-changelog"
    assert Settings(topic_accounts_changelog="mine").topic_accounts_changelog == "mine"
