"""A real HTTP server on loopback that records each webhook and answers from a script.

Used by unit tests of delivery and by the integration tests; it runs in a thread of the test
process, so the test can look at exactly what arrived.
"""

from __future__ import annotations

import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    server_name: str | None = None  # the SNI a TLS client sent


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    trickle_s: float = 0.0  # the body is sent a KiB at a time, this long apart


TRICKLE_BYTES = 1024


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow or long reply (the notifier's limits) is expected;
        # anything else is still reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """Answers with ``replies`` in order, then with the last one again; 204 when given none."""

    def __init__(self, replies: list[Reply] | None = None, host: str = "127.0.0.1") -> None:
        self.replies = replies or [Reply()]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._sni = threading.local()
        self.server = _QuietServer((host, 0), self._handler())
        self.server.daemon_threads = True
        self.server.block_on_close = False  # a test ends without waiting on a slow reply
        self.port = int(self.server.server_address[1])
        self.scheme = "http"

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def use_tls(self, certfile: str, keyfile: str) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile)
        names: list[str | None] = []

        def remember(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
            names.append(name)

        context.sni_callback = remember
        self._names = names
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                names = getattr(receiver, "_names", [])
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.time(),
                            names[-1] if names else None,
                        )
                    )
                    reply = receiver.replies[min(len(receiver.received), len(receiver.replies)) - 1]
                time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if not reply.trickle_s:
                    self.wfile.write(reply.body)
                    return
                for start in range(0, len(reply.body), TRICKLE_BYTES):
                    self.wfile.write(reply.body[start : start + TRICKLE_BYTES])
                    time.sleep(reply.trickle_s)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test asserts on ``received`` instead

        return Handler

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
