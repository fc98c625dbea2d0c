"""Errors as RFC 9457 problem details: ``application/problem+json`` with a stable code."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
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


def register_problem_handlers(app: Flask) -> None:
    app.register_error_handler(Problem, lambda exc: exc.response())
    app.register_error_handler(HTTPException, _from_http_exception)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("unhandled error")  # the traceback goes to the log, never to the client
        return Problem(
            500, "internal-error", "Internal Server Error", "something went wrong on our side"
        ).response()
