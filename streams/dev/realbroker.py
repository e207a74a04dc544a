"""A real Apache Kafka broker (KRaft, single node) run from its Maven Central jars.

Unlike :mod:`streams.kafka.embedded` it has real CreateTopics, transactions and
``read_committed``. Needs a JDK 17+ and, once, Maven to fill the jar cache.
From a shell: ``python -m streams.dev.realbroker run`` prints ``bootstrap=<host:port>``
and serves until SIGINT/SIGTERM.

By default each start is a new broker (a temporary directory and free ports, removed on
stop). With ``home`` (``--data-dir``) the broker keeps its data, its ports (``port``,
``--port``, or the ones its first start picked, in ``<home>/ports``) and its cluster id
there, so it can be stopped, killed and started again on the same data and address:
:meth:`RealBroker.restart`, or a new process with the same flags.

With ``security`` (``--sasl-ssl``) its one client listener is SASL_SSL (SCRAM-SHA-512) with
ACLs: :mod:`streams.dev.broker_security`, docs/security.md.

>>> with RealBroker() as broker:  # doctest: +SKIP
...     broker.create_topics(["events"], partitions=3)
...     print(broker.bootstrap)
127.0.0.1:41235
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from streams.config import Settings
from streams.dev.broker_security import (
    PASSWORD_FILE,
    BrokerSecurity,
    CertFiles,
    client_settings,
    make_certificates,
    server_properties,
)
from streams.errors import BrokerError
from streams.kafka.acls import Acl, create_acls
from streams.kafka.clients import Probe
from streams.ops.progress import Progress

KAFKA_VERSION = "4.1.1"
KAFKA_JARS = 46  # the runtime jars Maven copies for KAFKA_VERSION: the fetch's progress total
CACHE_MARKER = ".streamscore-complete"
"""File written into a libs dir once every jar has been copied into it."""

_FILES = Path(__file__).resolve().parent / "broker"  # pom.xml, server and log4j2 properties
_POM = _FILES / "pom.xml"
_PROBE_TOPIC = "__streamscore_probe"
_TAIL_LINES = 40
_STOP_GRACE_S = 30.0

# A 512 MB young generation, and survivors promoted after one collection: young
# pauses every ~8 s instead of every second at 5,000 events/s, none re-copying the
# same survivors (these pauses set every pipeline's p99: docs/brokers.md).
_JVM_HEAP = ["-Xms1g", "-Xmx1g", "-Xmn512m", "-XX:MaxTenuringThreshold=1"]

_ADMIN_TIMEOUT_S = 30.0


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streamscore" / f"kafka-{KAFKA_VERSION}" / "libs"


def _cluster_id() -> str:
    """A random KRaft cluster id, as ``kafka-storage random-uuid`` makes them: 16 bytes,
    URL-safe base64, never starting with "-" (the tool's parser would read an option)."""
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-_TAIL_LINES:])


def _run(cmd: list[str], what: str, timeout_s: float) -> None:
    """Run ``cmd`` to completion; any failure becomes a BrokerError with the output tail."""
    try:
        subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=timeout_s)
    except FileNotFoundError as exc:
        raise BrokerError(f"{what}: {cmd[0]!r} not found on PATH") from exc
    except subprocess.CalledProcessError as exc:
        out = _tail(f"{exc.stdout or ''}{exc.stderr or ''}")
        raise BrokerError(f"{what} failed (exit {exc.returncode}):\n{out}") from exc
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"{what} timed out after {timeout_s:.0f} s") from exc


def _copy_jars(cmd: list[str], into: Path, timeout_s: float) -> None:
    """Run Maven's copy (``cmd``) into ``into``, the jars that arrived counted on stderr;
    a failure becomes a BrokerError with the output's tail."""
    what = "fetching the Kafka jars with Maven"
    bar = Progress(what, KAFKA_JARS)
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryFile("w+") as out:
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError as exc:
            raise BrokerError(f"{what}: {cmd[0]!r} not found on PATH") from exc
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                raise BrokerError(f"{what} timed out after {timeout_s:.0f} s")
            bar.update(len(list(into.glob("*.jar"))))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.2)  # returns when Maven ends; else the count is redrawn
        if proc.returncode:
            out.seek(0)
            raise BrokerError(f"{what} failed (exit {proc.returncode}):\n{_tail(out.read())}")
    bar.finish(len(list(into.glob("*.jar"))))


def fetch_jars(cache_dir: Path | None = None) -> Path:
    """Return a directory holding Kafka's runtime jars, fetching them with Maven if needed.

    ``cache_dir`` is the libs dir itself (default ``$XDG_CACHE_HOME/streamscore/kafka-<ver>/libs``).
    A cache with :data:`CACHE_MARKER` is reused as is; otherwise Maven copies the jars into a
    sibling temp dir that is renamed into place, so an interrupted fetch leaves no half cache.

    >>> fetch_jars()  # doctest: +SKIP
    PosixPath('/home/me/.cache/streamscore/kafka-4.1.1/libs')
    """
    libs = cache_dir if cache_dir is not None else _default_cache()
    if (libs / CACHE_MARKER).is_file():
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{libs.name}-", dir=libs.parent))
    try:
        cmd = ["mvn", "-q", "-B", "-f", str(_POM), "dependency:copy-dependencies"]
        cmd += [f"-DoutputDirectory={tmp}", f"-Dkafka.version={KAFKA_VERSION}"]
        _copy_jars(cmd, tmp, timeout_s=900.0)
        (tmp / CACHE_MARKER).write_text(f"kafka {KAFKA_VERSION}\n")
        if not (libs / CACHE_MARKER).is_file():  # else a concurrent fetch won
            shutil.rmtree(libs, ignore_errors=True)  # an incomplete earlier copy
            tmp.rename(libs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return libs


def _two_free_ports() -> tuple[int, int]:
    with socket.socket() as a, socket.socket() as b:  # both bound at once: distinct ports
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return int(a.getsockname()[1]), int(b.getsockname()[1])


class RealBroker:
    """A single-node KRaft Kafka broker in a child JVM (its own process group and temp dir).

    >>> broker = RealBroker(); broker.start()  # doctest: +SKIP
    '127.0.0.1:41235'
    >>> broker.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        libs_dir: Path | None = None,
        start_timeout_s: float = 90.0,
        home: Path | None = None,
        port: int | None = None,
        security: BrokerSecurity | None = None,
    ) -> None:
        self._libs_dir = libs_dir
        self._start_timeout_s = start_timeout_s
        self._home = home  # kept across stops; None: a temporary directory per start
        self._wanted_port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        self._port = 0
        self._security = security  # None: one PLAINTEXT listener, no ACLs
        self._certs: CertFiles | None = None

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:<port>`` of the running broker."""
        if self._proc is None:
            raise BrokerError("real broker is not started")
        return f"127.0.0.1:{self._port}"

    @property
    def data_dir(self) -> Path:
        """The broker's ``log.dirs`` (removed by :meth:`stop` unless it has a home)."""
        if self._tmp is None:
            raise BrokerError("real broker is not started")
        return self._tmp / "data"

    @property
    def pid(self) -> int | None:
        """The broker JVM's process id while it runs (benchmarks read its CPU time)."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the broker JVM is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> str:
        """Fetch jars if needed, format storage, launch the JVM and wait until it accepts
        a produce. Idempotent; returns :attr:`bootstrap`."""
        if self._proc is not None:
            return self.bootstrap
        libs = fetch_jars(self._libs_dir)
        deadline = time.monotonic() + self._start_timeout_s
        if self._home is not None:
            self._home.mkdir(parents=True, exist_ok=True)
            self._tmp = self._home
        else:
            self._tmp = Path(tempfile.mkdtemp(prefix="streamscore-kafka-"))
        atexit.register(self.stop)
        try:
            self._launch(libs)
            self._await_ready(deadline)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap

    def _launch(self, libs: Path) -> None:
        assert self._tmp is not None
        self._port, cport = self._ports()
        props, log4j = self._tmp / "server.properties", self._tmp / "log4j2.properties"
        data = self._tmp / "data"
        server = (_FILES / "server.properties").read_text()
        server = server.format(port=self._port, cport=cport, data=data)
        scram: list[str] = []
        if self._security is not None:
            self._certs = make_certificates(self._tmp / "tls")
            server += server_properties(self._security, self._port, cport, self._certs)
            scram = self._security.scram_args()
            self._security.save_admin_password(self._tmp / "tls")
        props.write_text(server)
        props.chmod(0o600)  # it may hold the admin's password
        log4j.write_text(
            (_FILES / "log4j2.properties").read_text().format(log=self._tmp / "server.log")
        )
        java_home = os.environ.get("JAVA_HOME")
        exe = str(Path(java_home) / "bin" / "java") if java_home else "java"
        java = [exe, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
        if not (data / "meta.properties").is_file():  # a new broker; else its own data again
            fmt = ["kafka.tools.StorageTool", "format", "--standalone", "-t", _cluster_id()]
            fmt += ["-c", str(props), *scram]
            _run([*java, *fmt], "formatting Kafka storage", timeout_s=120.0)
        cmd = [*java, *_JVM_HEAP, "kafka.Kafka", str(props)]
        with open(self._tmp / "broker.out", "ab") as out:  # the child keeps its own fd
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )

    def _ports(self) -> tuple[int, int]:
        """The client and controller ports: a home's (its controller is recorded in the
        metadata with its address), else ``port`` or a free one, and a free one."""
        assert self._tmp is not None
        saved = self._tmp / "ports"
        if self._home is not None and saved.is_file():
            port, cport = (int(p) for p in saved.read_text().split())
            if self._wanted_port not in (None, port):
                raise BrokerError(
                    f"{self._home} is a broker on port {port}, not {self._wanted_port}"
                )
            return port, cport
        free, cport = _two_free_ports()
        port = self._wanted_port or free
        if self._home is not None:
            saved.write_text(f"{port} {cport}\n")
        return port, cport

    def _await_ready(self, deadline: float) -> None:
        """Poll until a probe message is acknowledged, the JVM dies, or the deadline."""
        admin = self.admin_settings() if self._security is not None else None
        probe = Probe(self.bootstrap, _PROBE_TOPIC, admin)
        try:
            while not probe.poll(0.2):
                if self._proc is None or self._proc.poll() is not None:
                    raise BrokerError(f"Kafka broker exited during start\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    waited = f"{self._start_timeout_s:g} s"
                    raise BrokerError(f"Kafka broker not ready in {waited}\n{self.log_tail()}")
        finally:
            probe.close()

    def log_tail(self) -> str:
        """Last lines of the broker's log and of its stdout/stderr (for error messages)."""
        parts = []
        for name in ("server.log", "broker.out"):
            path = self._tmp / name if self._tmp is not None else None
            if path is not None and path.is_file():
                text = _tail(path.read_text(errors="replace"))
                if text:
                    parts.append(f"--- {name} ---\n{text}")
        return "\n".join(parts) or "(no broker output)"

    def create_topics(self, names: Iterable[str], partitions: int = 1) -> None:
        """Create topics with ``partitions`` partitions each (existing ones are kept)."""
        from streams.kafka import ensure_topics

        ensure_topics(self.admin_settings(), list(names), partitions)

    @property
    def secured(self) -> bool:
        """Whether the broker runs with SASL_SSL and ACLs."""
        return self._security is not None

    @property
    def ca_location(self) -> Path:
        """The CA certificate (PEM) clients of a secured broker trust."""
        if self._certs is None:
            raise BrokerError("the broker is not started with security")
        return self._certs.ca

    def client_settings(self, username: str, password: str, **overrides: object) -> Settings:
        """Settings of a client as ``username`` (a secured broker), ``overrides`` merged."""
        return client_settings(self.bootstrap, self.ca_location, username, password, **overrides)

    def admin_settings(self) -> Settings:
        """Settings of a client with every right: the admin's, or no security at all."""
        if self._security is None:
            return Settings(bootstrap_servers=self.bootstrap)
        return self.client_settings(self._security.admin_user, self._security.admin_password)

    def grant(self, acls: Iterable[Acl]) -> None:
        """Create ALLOW ACLs, as the admin (a secured broker)."""
        create_acls(self.admin_settings(), acls)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM the JVM (SIGKILL after 30 s; at once with ``kill``), remove the temp dir
        (a home stays). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
                proc.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._tmp is not None and self._home is None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None
        atexit.unregister(self.stop)

    def restart(self, kill: bool = False) -> str:
        """Stop (SIGTERM, or SIGKILL with ``kill``) and start again on the same data and
        address; needs a home. Returns :attr:`bootstrap`, unchanged."""
        if self._home is None:
            raise BrokerError("a broker restarts on its data only with a home (data_dir)")
        self.stop(kill=kill)
        return self.start()

    def __enter__(self) -> RealBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _serve(broker: RealBroker) -> int:
    """Start ``broker``, print its address, block until SIGINT/SIGTERM, then stop it."""
    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"bootstrap={broker.start()}", flush=True)
        if broker.secured:
            print(f"ca={broker.ca_location}", flush=True)
            print(f"admin_password_file={broker.ca_location.parent / PASSWORD_FILE}", flush=True)
        while not stop.wait(0.5):
            if not broker.running:
                print(f"Kafka broker exited\n{broker.log_tail()}", file=sys.stderr, flush=True)
                return 1
        return 0
    finally:
        broker.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``fetch`` prints the libs dir; ``run`` serves a broker until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="streams.dev.realbroker", description="A real Kafka broker."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch the Kafka jars into the cache and print the libs dir")
    run = sub.add_parser("run", help="run a broker and print bootstrap=<host:port>")
    run.add_argument("--start-timeout", type=float, default=90.0, help="seconds (default 90)")
    run.add_argument(
        "--data-dir", type=Path, default=None, help="keep data, ports and cluster id here"
    )
    run.add_argument("--port", type=int, default=None, help="the client port (default: free)")
    run.add_argument(
        "--sasl-ssl", action="store_true", help="SASL_SSL (SCRAM-SHA-512) and ACLs; an admin user"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch_jars(), flush=True)
            return 0
        tls = args.data_dir / "tls" if args.data_dir is not None else None
        security = BrokerSecurity.load_or_new(tls) if args.sasl_ssl else None
        broker = RealBroker(
            start_timeout_s=args.start_timeout,
            home=args.data_dir,
            port=args.port,
            security=security,
        )
        return _serve(broker)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
