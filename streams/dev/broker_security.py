"""SASL_SSL (SCRAM-SHA-512) with ACLs for :class:`streams.dev.realbroker.RealBroker`.

A test CA and a broker certificate for ``127.0.0.1``/``localhost`` are made with the
``openssl`` CLI (PEM files, which Kafka reads as they are: ``ssl.keystore.type=PEM``);
the SCRAM users are written into the metadata when the storage is formatted; the broker
authorizes with KRaft's ``StandardAuthorizer``, denying what no ACL allows. The
admin user is a super user (the broker's own inter-broker principal). See
docs/security.md.

>>> security = BrokerSecurity(users={"app": "app-secret"})  # doctest: +SKIP
>>> with RealBroker(security=security) as broker:           # doctest: +SKIP
...     settings = broker.client_settings("app", "app-secret")
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.config import Settings
from streams.errors import BrokerError
from streams.kafka.acls import Acl

MECHANISM = "SCRAM-SHA-512"
LISTENER = "SASL_SSL"
PASSWORD_FILE = "admin.password"
"""The admin's password, next to the certificates (mode 600): a broker run from a shell."""
_CERT_DAYS = "2"
_OPENSSL_TIMEOUT_S = 60.0


def _password() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class BrokerSecurity:
    """What a secured broker is started with: its admin (a super user) and other users.

    Users are created when the storage is formatted: a broker restarted on its data
    keeps the ones of its first start.
    """

    admin_user: str = "admin"
    admin_password: str = field(default_factory=_password, repr=False)
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Other SCRAM-SHA-512 users: name -> password (they hold no ACL until granted)."""

    @classmethod
    def load_or_new(cls, directory: Path | None) -> BrokerSecurity:
        """An admin whose password is the one saved in ``directory``, else a new one."""
        saved = directory / PASSWORD_FILE if directory is not None else None
        if saved is not None and saved.is_file():
            return cls(admin_password=saved.read_text().strip())
        return cls()

    def save_admin_password(self, directory: Path) -> None:
        """Write the admin's password into ``directory`` (readable by its owner only)."""
        path = directory / PASSWORD_FILE
        path.touch(mode=0o600)
        path.write_text(self.admin_password + "\n")

    def scram_args(self) -> list[str]:
        """``--add-scram`` arguments of ``kafka-storage format``: every user."""
        out: list[str] = []
        for name, password in {self.admin_user: self.admin_password, **self.users}.items():
            out += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
        return out


@dataclass(frozen=True)
class CertFiles:
    """The PEM files of a secured broker: the CA (clients trust it) and the keystore."""

    ca: Path
    keystore: Path
    """The broker's private key (PKCS#8, unencrypted) and its certificate, signed by ``ca``."""


def _openssl(args: list[str], cwd: Path) -> None:
    try:
        subprocess.run(
            ["openssl", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=_OPENSSL_TIMEOUT_S,
        )
    except FileNotFoundError as exc:
        raise BrokerError("making test certificates: 'openssl' not found on PATH") from exc
    except subprocess.CalledProcessError as exc:
        raise BrokerError(f"openssl {args[0]} failed: {exc.stderr.strip()}") from exc


def make_certificates(directory: Path) -> CertFiles:
    """A CA and a broker certificate for 127.0.0.1 and localhost in ``directory`` (kept
    if already there, so a restarted broker serves the same certificate)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = CertFiles(ca=directory / "ca.pem", keystore=directory / "broker-keystore.pem")
    if files.ca.is_file() and files.keystore.is_file():
        return files
    _openssl(
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            _CERT_DAYS,
            "-subj",
            "/CN=streamscore test CA",
        ],
        directory,
    )
    _openssl(
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "broker.key",
            "-out",
            "broker.csr",
            "-subj",
            "/CN=localhost",
        ],
        directory,
    )
    (directory / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        [
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "broker.crt",
            "-days",
            _CERT_DAYS,
            "-extfile",
            "broker.ext",
        ],
        directory,
    )
    key = (directory / "broker.key").read_text()
    files.keystore.write_text(key + (directory / "broker.crt").read_text())
    files.keystore.chmod(0o600)
    return files


def server_properties(security: BrokerSecurity, port: int, cport: int, certs: CertFiles) -> str:
    """Lines appended to the broker's server.properties (later keys win): the client and
    inter-broker listener on SASL_SSL, SCRAM, TLS and the authorizer.

    The controller listener stays PLAINTEXT on loopback (SCRAM cannot authenticate
    controllers in KRaft), so its principal, ANONYMOUS, is a super user too."""
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{security.admin_user}" password="{security.admin_password}";'
    )
    lines = {
        "listeners": f"{LISTENER}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        "advertised.listeners": f"{LISTENER}://127.0.0.1:{port}",
        "inter.broker.listener.name": LISTENER,
        "listener.security.protocol.map": f"{LISTENER}:{LISTENER},CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.{LISTENER.lower()}.{MECHANISM.lower()}.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(certs.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{security.admin_user};User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "false",
    }
    return "\n# security (streams/dev/broker_security.py)\n" + "".join(
        f"{k}={v}\n" for k, v in lines.items()
    )


def client_settings(
    bootstrap: str, ca: Path, username: str, password: str, **overrides: Any
) -> Settings:
    """Settings of a client of a secured broker, as ``username``."""
    return Settings(
        bootstrap_servers=bootstrap,
        security_protocol=LISTENER,
        sasl_mechanism=MECHANISM,
        sasl_username=username,
        sasl_password=password,
        ssl_ca_location=ca,
        **overrides,
    )


def processor_acls(settings: Settings, principal: str) -> dict[str, list[Acl]]:
    """The ACLs each processor and command needs, per command (docs/security.md's table)."""

    def acl(resource: str, name: str, operation: str, prefixed: bool = False) -> Acl:
        return Acl(principal, resource, name, operation, prefixed)

    s = settings
    writes = [s.topic_scores, s.topic_dlq, s.topic_scores_shadow, s.topic_drift_alerts]
    joins_out = [s.topic_labelled, s.topic_feedback_unmatched, s.topic_feedback_dlq]
    return {
        "score": [
            acl("TOPIC", s.topic_events, "READ"),
            *(acl("TOPIC", t, "WRITE") for t in writes),
            # the velocity state: written in each batch, read back on assignment
            *(acl("TOPIC", s.topic_accounts_changelog, op) for op in ("READ", "WRITE")),
            acl("GROUP", s.scorer_group_id, "READ"),
            acl("TRANSACTIONAL_ID", f"{s.scorer_group_id}-", "WRITE", prefixed=True),
        ],
        "join": [
            acl("TOPIC", s.topic_events, "DESCRIBE"),  # the start-up probe reads its metadata
            *(acl("TOPIC", t, "READ") for t in (s.topic_scores, s.topic_feedback)),
            acl("TOPIC", s.topic_scores_shadow, "READ"),
            *(acl("TOPIC", t, "WRITE") for t in [*joins_out, s.topic_drift_alerts]),
            acl("GROUP", s.joiner_group_id, "READ"),
            *(
                acl("TOPIC", f"{s.joiner_group_id}-", op, prefixed=True)
                for op in ("CREATE", "READ", "WRITE")
            ),
        ],
        "lag": [
            acl("TOPIC", s.topic_events, "DESCRIBE"),
            acl("GROUP", s.scorer_group_id, "DESCRIBE"),
        ],
        "produce": [acl("TOPIC", t, "WRITE") for t in (s.topic_events, s.topic_feedback)],
        "dlq replay": [acl("TOPIC", s.topic_dlq, "READ"), acl("TOPIC", s.topic_events, "WRITE")],
    }
