"""Errors as RFC 9457 problem details: ``application/problem+json`` with a stable code.

Every code is an entry of geopin.errors' catalogue, which gives its status and title.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from geopin.errors import CATALOGUE, error_code
from geopin.index import IndexUnavailable
from geopin.jobs import StoreUnavailable
from geopin.queue import QueueUnavailable
from geopin.queue.retry import TRANSIENT_ERRORS, backend_of
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)


class Problem(Exception):
    """Raise from a view to answer with a problem document (:meth:`of` a catalogued code)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        catalogued = error_code(code).status
        if catalogued != status:
            raise ValueError(f"{code} answers {catalogued}, not {status} (see geopin.errors)")
        super().__init__(detail)
        self.headers = headers or {}
        self.status, self.code, self.title, self.detail, self.extra = (
            status,
            code,
            title,
            detail,
            extra,
        )

    @classmethod
    def of(
        cls, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> Problem:
        """The problem for ``code``, with the status and title its catalogue entry gives."""
        entry = error_code(code)
        if entry.status is None:
            raise ValueError(f"{code} is a failed job's code, never an answer of the API")
        return cls(entry.status, code, entry.title, detail, headers, **extra)

    def response(self) -> Response:
        body = {
            "type": f"urn:geopin:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }
        response = jsonify(body)
        response.status_code = self.status
        response.mimetype = "application/problem+json"
        response.headers.update(self.headers)
        return response


def _code_of(exc: HTTPException) -> str:
    """Werkzeug's refusal as a catalogued code: its name (``method-not-allowed``), or the
    catalogue's general code for its class of status when the name has no entry."""
    if isinstance(exc, RequestEntityTooLarge):
        return "upload-too-large"  # the same code whichever layer noticed the size
    code = (exc.name or "").lower().replace(" ", "-")
    if CATALOGUE.get(code) is not None and CATALOGUE[code].status == exc.code:
        return code
    log.warning("answering %s %r as a catalogued code", exc.code, exc.name)
    return "internal-error" if (exc.code or 500) >= 500 else "bad-request"


def _from_http_exception(exc: HTTPException) -> Response:
    response = Problem.of(_code_of(exc), exc.description or exc.name or "").response()
    if exc.response is None:
        for header, value in exc.get_headers():
            if header.lower() not in ("content-type", "content-length"):
                response.headers[header] = value
    return response


def register_problem_handlers(app: Flask, retry_after_s: int) -> None:
    """Problems as they are; a backend's outage as 503 from any route; the rest as a bare 500."""
    app.register_error_handler(Problem, lambda exc: exc.response())
    app.register_error_handler(HTTPException, _from_http_exception)

    def outage(exc: StoreUnavailable | QueueUnavailable | IndexUnavailable) -> Response:
        log.warning("%s on %s %s: %s", exc.code, request.method, request.path, exc)
        # What a client reads; the backend's own words go to the log only.
        return Problem.of(
            exc.code,
            f"{backend_of(exc)} did not answer; try again in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        ).response()

    for kind in TRANSIENT_ERRORS:
        app.register_error_handler(kind, outage)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("unhandled error")  # the traceback goes to the log, never to the client
        return Problem.of("internal-error", "something went wrong on our side").response()
