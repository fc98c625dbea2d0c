"""Errors as RFC 9457 problem details: ``application/problem+json`` with a stable code."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from geopin.index import IndexUnavailable
from geopin.jobs import StoreUnavailable
from geopin.queue import QueueUnavailable
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)


class Problem(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.headers = headers or {}
        self.status, self.code, self.title, self.detail, self.extra = (
            status,
            code,
            title,
            detail,
            extra,
        )

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


def _from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    name = exc.name or "Error"
    code = name.lower().replace(" ", "-")
    if isinstance(exc, RequestEntityTooLarge):
        code = "upload-too-large"  # the same code whichever layer noticed the size
    problem = Problem(status, code, name, exc.description or name)
    response = problem.response()
    if exc.response is None:
        for header, value in exc.get_headers():
            if header.lower() not in ("content-type", "content-length"):
                response.headers[header] = value
    return response


# What a client reads when a backend is down; the backend's own words go to the log only.
_OUTAGES: dict[type[Exception], tuple[str, str]] = {
    StoreUnavailable: ("Queue unavailable", "the job store did not answer"),
    QueueUnavailable: ("Queue unavailable", "the job queue did not answer"),
    IndexUnavailable: ("Index unavailable", "the reference index did not answer"),
}


def register_problem_handlers(app: Flask, retry_after_s: int) -> None:
    """Problems as they are; a backend's outage as 503 from any route; the rest as a bare 500."""
    app.register_error_handler(Problem, lambda exc: exc.response())
    app.register_error_handler(HTTPException, _from_http_exception)

    def outage(exc: StoreUnavailable | QueueUnavailable | IndexUnavailable) -> Response:
        log.warning("%s on %s %s: %s", exc.code, request.method, request.path, exc)
        title, what = next(words for kind, words in _OUTAGES.items() if isinstance(exc, kind))
        return Problem(
            503,
            exc.code,
            title,
            f"{what}; try again in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        ).response()

    for kind in _OUTAGES:
        app.register_error_handler(kind, outage)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("unhandled error")  # the traceback goes to the log, never to the client
        return Problem(
            500, "internal-error", "Internal Server Error", "something went wrong on our side"
        ).response()
