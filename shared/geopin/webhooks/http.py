"""One POST to a callback, over a connection pinned to the address the SSRF guard checked.

``requests`` (urllib3) would look the host up again when it connects, and that second answer
is the one DNS rebinding controls. ``http.client`` lets us open the socket ourselves: it goes
to the checked address while the request keeps the original Host header and, for https, the
original name for SNI and certificate verification. ``http.client`` never follows redirects;
a 3xx answer is a failed attempt like any other non-2xx.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from geopin.webhooks.ssrf import CallbackTarget, IPAddress


class Unreachable(OSError):
    """No connection could be made to this address; nothing was sent, so another may be tried."""


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after_s: float | None  # the receiver's Retry-After, in seconds from now


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: CallbackTarget, address: IPAddress, timeout_s: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout_s)
        self._address = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = http.client.HTTPS_PORT

    def __init__(
        self,
        target: CallbackTarget,
        address: IPAddress,
        timeout_s: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(target, address, timeout_s)
        self._context = context

    def connect(self) -> None:
        super().connect()
        # SNI and the certificate check use the name the client gave, not the address.
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def post(
    target: CallbackTarget,
    address: IPAddress,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    max_response_bytes: int,
    tls: ssl.SSLContext | None = None,
) -> Answer:
    """POST ``body`` to ``target`` at ``address``; reads at most ``max_response_bytes`` back.

    ``timeout_s`` bounds the whole exchange, not each socket operation: a receiver that
    trickles its answer a byte at a time still frees the worker on time.
    """
    deadline = time.monotonic() + timeout_s
    connection: _PinnedHTTPConnection
    if target.scheme == "https":
        context = tls or ssl.create_default_context()
        connection = _PinnedHTTPSConnection(target, address, timeout_s, context)
    else:
        connection = _PinnedHTTPConnection(target, address, timeout_s)
    try:
        try:
            connection.connect()
        except OSError as exc:
            raise Unreachable(f"cannot connect to {address}: {exc}") from exc
        connection.request("POST", target.path, body=body, headers=headers)
        _shrink_timeout(connection, deadline)
        response = connection.getresponse()
        remaining = max_response_bytes
        while remaining > 0 and not response.closed:
            _shrink_timeout(connection, deadline)
            chunk = response.read1(min(remaining, 1024))
            if not chunk:
                break
            remaining -= len(chunk)
        return Answer(response.status, parse_retry_after(response.getheader("Retry-After")))
    finally:
        connection.close()


def _shrink_timeout(connection: http.client.HTTPConnection, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the receiver took longer than the delivery's time limit")
    if connection.sock is not None:
        connection.sock.settimeout(left)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
