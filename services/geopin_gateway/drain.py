"""Read what a view left unread of a request body, so every client gets to read its answer.

Many answers come before the body is read: 413 from the declared length, 401, 415, 429 and 503
from the headers alone. A client that writes its whole body before it reads (Python's urllib and
http.client, curl without ``Expect: 100-continue``) is still sending when the answer is ready.
gunicorn's sync worker then closes the connection with at most 64 KiB of the rest drained
(``gunicorn.util.close_graceful``); the kernel answers the bytes that keep arriving at a closed
socket with a reset, and the client's send fails with a broken pipe before it reads a byte of
the 413. Reading the rest of the body first, up to a bound, lets the send finish and the answer
be read. A body declared larger than the bound is not read at all: draining part of it would
not save that client, and the bound keeps a worker from being tied up for long.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_CHUNK = 64 * 1024


class _CountingInput:
    """``wsgi.input`` that counts what the application read of it (the WSGI input methods)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.consumed = 0

    def _counted(self, data: bytes) -> bytes:
        self.consumed += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._counted(self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._counted(self._stream.readline(size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._counted(line) for line in self._stream.readlines(hint)]

    def __iter__(self) -> Iterator[bytes]:
        return (self._counted(line) for line in self._stream)


class DrainUnreadBody:
    """WSGI middleware: after the application answers, read and discard the rest of the body
    (at most ``max_bytes``) before the server writes the answer."""

    def __init__(self, app: WSGIApplication, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = body
        answer = self._app(environ, start_response)
        self._drain(body, environ)
        return answer

    def _drain(self, body: _CountingInput, environ: WSGIEnvironment) -> None:
        declared = _content_length(environ)
        if declared is None:
            # Without a length, only a server that ends the stream itself (chunked bodies in
            # gunicorn) can be read to its end without blocking on a client that sent all.
            if not environ.get("wsgi.input_terminated"):
                return
            left = self._max_bytes
        else:
            if declared > self._max_bytes:
                return
            left = declared - body.consumed
        try:
            while left > 0:
                chunk = body.read(min(_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
        except OSError:
            return  # the client went away: nobody is left to read the answer


def _content_length(environ: WSGIEnvironment) -> int | None:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or ""))
    except ValueError:
        return None
