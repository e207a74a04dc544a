"""streamscore against a broker that demands SASL_SSL (SCRAM-SHA-512) and ACLs: the scorer,
the joiner, ``lag``, ``dlq replay`` and ``produce`` work with settings only, as a
principal holding exactly the ACLs docs/security.md lists; a wrong password and a
principal without ACLs fail fast with one clear line; no secret appears in any output,
``/metrics`` or ``/readyz``; the metrics server binds the address it is told."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from helpers import child_env, free_port, wait_for
from pydantic import SecretStr

from streams.config import Settings
from streams.dev.broker_security import BrokerSecurity, make_certificates, processor_acls
from streams.dev.local import fresh_settings
from streams.dev.realbroker import RealBroker
from streams.kafka import end_total, read_topic
from streams.ops.logs import JsonFormatter, secret_values

pytestmark = pytest.mark.realbroker

ROOT = Path(__file__).resolve().parent.parent
APP_PASSWORD = "app-Secret-7f3c9a"
NOACL_PASSWORD = "noacl-Secret-1b8e2d"
WRONG_PASSWORD = "wrong-Secret-5d0a4c"
SECRETS = (APP_PASSWORD, NOACL_PASSWORD, WRONG_PASSWORD)
FAIL_DEADLINE_S = 30.0
# librdkafka retries a refused login about three times a second until the command's
# metadata request times out (5-15 s); a line repeated is logged once per 10 s
MAX_AUTH_LINES = 6
BIND = "127.0.0.2"  # a loopback address other than the default's 127.0.0.1


@dataclass
class Secure:
    """The secured broker, its admin's settings (fresh topics) and the app principal's."""

    broker: RealBroker
    admin: Settings
    app: Settings
    outputs: list[str]
    """Everything the module's subprocesses printed, and the bodies served: checked for
    secrets at the end."""


@pytest.fixture(scope="module")
def secure() -> Iterator[Secure]:
    users = {"app": APP_PASSWORD, "noacl": NOACL_PASSWORD}
    users |= {name: NOACL_PASSWORD for name, _, _ in PARTIAL}
    with RealBroker(security=BrokerSecurity(users=users)) as broker:
        admin = broker.admin_settings()
        login = {
            k: getattr(admin, k)
            for k in ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password")
        }
        admin = fresh_settings(
            broker.bootstrap,
            "sec",
            topic_partitions=2,
            ssl_ca_location=broker.ca_location,
            session_timeout_ms=6_000,
            **login,
        )
        app = admin.model_copy(
            update={"sasl_username": "app", "sasl_password": SecretStr(APP_PASSWORD)}
        )
        broker.grant(a for acls in processor_acls(admin, "User:app").values() for a in acls)
        for name, command, without in PARTIAL:  # the command's ACLs but one kind
            acls = processor_acls(admin, f"User:{name}")[command]
            broker.grant(a for a in acls if a.resource != without)
        outputs: list[str] = []
        yield Secure(broker, admin, app, outputs)
        leaks = [s for s in SECRETS for text in outputs if s in text]
        assert not leaks, f"a password appeared in an output: {set(leaks)}"
        assert outputs, "no output was checked"


def _cli_all(
    secure: Secure, commands: list[list[str]], **extra: object
) -> list[tuple[int, str, float]]:
    """Run ``python -m streams <command>`` for every command at once, as the app
    (``extra``: other settings); each one's exit code, stdout+stderr and seconds."""
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "streams", *args],
            env=child_env(secure.app, **extra),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for args in commands
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        secure.outputs.append(out)
        results.append((proc.returncode, out, time.monotonic() - t0))
    return results


def _cli(secure: Secure, *args: str, **extra: object) -> tuple[int, str, float]:
    return _cli_all(secure, [list(args)], **extra)[0]


def _start(secure: Secure, command: str, log: Path, **extra: object) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", command],
            env=child_env(secure.app, **extra),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes], log: Path, secure: Secure) -> int:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    secure.outputs.append(log.read_text(errors="replace"))
    return code


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return str(resp.read().decode())
    except urllib.error.HTTPError as exc:  # /readyz answers 503 until ready
        return str(exc.read().decode())


def _refused(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def test_pipeline_and_commands_work_with_the_documented_acls(
    secure: Secure, tmp_path: Path
) -> None:
    s, port = secure.admin, free_port(BIND)
    scorer = _start(secure, "score", tmp_path / "score.log", metrics_port=port, metrics_host=BIND)
    joiner = _start(secure, "join", tmp_path / "join.log", joiner_data_dir=tmp_path / "joiner")
    try:
        code, out, _ = _cli(
            secure,
            "produce",
            "--count",
            "300",
            "--messy-fraction",
            "0.2",
            "--feedback",
            "0.5",
            "--label-delay-s",
            "0",
            "--rate",
            "0",
            "--seed",
            "3",
        )
        assert code == 0, out
        produced = re.search(r"produced (\d+) events \((\d+) valid", out)
        assert produced is not None, out
        events, valid = int(produced[1]), int(produced[2])
        wait_for(
            lambda: end_total(s, s.topic_scores) >= valid and end_total(s, s.topic_dlq) > 0,
            60,
            "the events scored",
        )
        wait_for(lambda: bool(read_topic(s, s.topic_labelled)), 60, "a label joined")
        url = f"http://{BIND}:{port}"
        ready = lambda: orjson.loads(_get(url + "/readyz")).get("partitions_assigned")  # noqa: E731
        wait_for(lambda: ready() is True, 30, "the scorer ready")
        secure.outputs += [_get(url + "/metrics"), _get(url + "/readyz")]
        assert _refused("127.0.0.1", port)  # bound to BIND only

        scores = read_topic(s, s.topic_scores)
        ids = Counter(orjson.loads(r.value or b"")["event_id"] for r in scores)
        assert len(ids) == valid and set(ids.values()) == {1}  # each valid event once
        dead = len(read_topic(s, s.topic_dlq))
        assert dead == events - valid
        labelled = read_topic(s, s.topic_labelled)
        assert {orjson.loads(r.value or b"")["event_id"] for r in labelled} <= set(ids)

        wait_for(lambda: "total lag: 0" in _cli(secure, "lag")[1], 30, "lag 0 shown")
        code, out, _ = _cli(secure, "dlq", "replay")
        assert code == 0 and f"replayed {dead} records" in out, out
        # the replayed originals come back through the scorer: dead-lettered again
        wait_for(lambda: len(read_topic(s, s.topic_dlq)) == 2 * dead, 60, "replays scored")
    finally:
        codes = [_stop(scorer, tmp_path / "score.log", secure)]
        codes.append(_stop(joiner, tmp_path / "join.log", secure))
    assert codes == [0, 0]


def _assert_fails_fast(results: list[tuple[int, str, float]], expected: str) -> None:
    for code, out, seconds in results:
        assert code != 0, out
        last = out.strip().splitlines()[-1]
        assert re.search(expected, last), last
        assert seconds < FAIL_DEADLINE_S, (seconds, last)
        auth_lines = sum("Authentication failed" in line for line in out.splitlines())
        assert auth_lines <= MAX_AUTH_LINES, out


PARTIAL = [
    ("scorer-no-txn", "score", "TRANSACTIONAL_ID"),
    ("scorer-no-group", "score", "GROUP"),
    ("joiner-no-group", "join", "GROUP"),
]
"""Principals holding a command's ACLs but those of one kind of resource."""
MISSING = {"TRANSACTIONAL_ID": "a transactional id", "GROUP": "a consumer group"}

COMMANDS = [["score"], ["join"], ["lag"], ["dlq", "replay"], ["produce", "--count", "10"]]


def test_a_wrong_password_fails_fast_with_one_clear_line(secure: Secure, tmp_path: Path) -> None:
    wrong = SecretStr(WRONG_PASSWORD)
    results = _cli_all(secure, COMMANDS, sasl_password=wrong, joiner_data_dir=tmp_path / "j")
    _assert_fails_fast(
        results, r"^streamscore: the broker at .* refused the credentials of 'app'.*sasl_password"
    )


def test_an_untrusted_broker_certificate_fails_fast_with_one_clear_line(
    secure: Secure, tmp_path: Path
) -> None:
    other_ca = make_certificates(tmp_path / "other").ca  # a CA that did not sign the broker's
    results = _cli_all(secure, [["score"], ["join"]], ssl_ca_location=other_ca)
    _assert_fails_fast(results, r"^streamscore: the broker at .* check ssl_ca_location")


def test_a_principal_without_acls_fails_fast_with_one_clear_line(
    secure: Secure, tmp_path: Path
) -> None:
    noacl = {"sasl_username": "noacl", "sasl_password": SecretStr(NOACL_PASSWORD)}
    results = _cli_all(secure, COMMANDS, joiner_data_dir=tmp_path / "j", **noacl)
    _assert_fails_fast(
        results, r"^streamscore: the broker at .* denied User:noacl .* docs/security\.md"
    )


def test_the_documented_acls_are_the_ones_the_test_grants() -> None:
    doc = (ROOT / "docs" / "security.md").read_text().splitlines()
    commands = processor_acls(Settings(), "User:x")
    table = {row for row in doc if row.startswith("| ") and row[2:].split(" | ")[0] in commands}
    granted = {
        f"| {cmd} | {a.resource} | {a.name} | {a.operation} | "
        f"{'prefixed' if a.prefixed else 'literal'} |"
        for cmd, acls in commands.items()
        for a in acls
    }
    assert table == granted


def test_log_lines_mask_the_settings_secrets() -> None:
    settings = Settings(sasl_password=SecretStr('pa"ss\\word'), ssl_key_password="k3y-pw")
    formatter = JsonFormatter(secret_values(settings))
    record = logging.LogRecord(
        "x", logging.ERROR, "", 0, "login %s / %s", ('pa"ss\\word', "k3y-pw"), None
    )
    line = formatter.format(record)
    assert "word" not in line and "k3y" not in line and line.count("**********") == 2
    assert Settings().metrics_host == "0.0.0.0"  # the documented default: every interface


def test_invalid_settings_are_reported_without_the_values_given() -> None:
    env = {
        **os.environ,
        "STREAMSCORE_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "STREAMSCORE_SECURITY_PROTOCOL": "SASL_SSL",  # no mechanism: invalid
        "STREAMSCORE_SASL_USERNAME": "app",
        "STREAMSCORE_SASL_PASSWORD": APP_PASSWORD,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "streams", "lag"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "needs sasl_mechanism" in proc.stderr, proc.stderr
    assert APP_PASSWORD not in proc.stdout + proc.stderr


def test_a_missing_acl_is_named_and_fails_fast(secure: Secure, tmp_path: Path) -> None:
    results = []
    for name, command, without in PARTIAL:  # one at a time: each its own principal
        login = {"sasl_username": name, "sasl_password": SecretStr(NOACL_PASSWORD)}
        results += _cli_all(secure, [[command]], joiner_data_dir=tmp_path / name, **login)
        _assert_fails_fast(
            results[-1:], rf"^streamscore: .* denied User:{name} access to {MISSING[without]} "
        )
