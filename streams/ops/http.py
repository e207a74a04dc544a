"""The metrics port: ``/metrics``, ``/healthz`` (process alive) and ``/readyz``.

Readiness is whatever the processor's ``checks`` callable reports (for the scorer:
partitions assigned, broker reachable, model loaded); ``/readyz`` answers 200 when
every check is true and 503 otherwise, with the checks as JSON either way.

>>> checks = lambda: {"ok": True}
>>> server = ObservabilityServer(0, CollectorRegistry(), checks, "127.0.0.1").start()
>>> server.host, server.port > 0
('127.0.0.1', True)
>>> server.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Checks = Callable[[], dict[str, bool]]


class ObservabilityServer:
    """A small threaded HTTP server on the metrics port."""

    def __init__(
        self, port: int, registry: CollectorRegistry, checks: Checks, host: str = "0.0.0.0"
    ) -> None:
        registry_, checks_ = registry, checks

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    self._send(200, generate_latest(registry_), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    self._send(200, b'{"alive": true}', "application/json")
                elif self.path == "/readyz":
                    try:
                        results = checks_()
                    except Exception as exc:  # a failing check means not ready, never a crash
                        results = {"error": False}
                        log.warning("readiness check failed", extra={"error": str(exc)})
                    code = 200 if results and all(results.values()) else 503
                    self._send(code, orjson.dumps(results), "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes are not worth a log line."""

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._server.server_address[0])

    def start(self) -> ObservabilityServer:
        """Serve in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
