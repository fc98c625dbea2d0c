"""A stand-in for the gateway over real HTTP, for the client's and ``geopin locate``'s tests.

It answers as the API documents, with what a test scripts: refusals (429, 503...) for the
next submissions, jobs that end after a few polls. A photo's bytes say how its job goes:
``b"place <n>"`` is located at latitude n, ``b"fail"`` fails with ``index-missing``, ``b"bad"``
is refused as ``unsupported-image-type``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server


@dataclass
class Refusal:
    status: int
    code: str
    retry_after: str | None = None


@dataclass
class _Job:
    photo: bytes
    polls: int = 0


@dataclass
class FakeGateway:
    polls_to_end: int = 2
    refusals: list[Refusal] = field(default_factory=list)
    submissions: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    _jobs: dict[str, _Job] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Flask:
        app = Flask(__name__)
        app.add_url_rule("/v1/jobs", view_func=self._submit, methods=["POST"])
        app.add_url_rule("/v1/jobs/<job_id>", view_func=self._get)
        return app

    def _submit(self) -> Response | tuple[Response, int] | tuple[Response, int, dict[str, str]]:
        with self._lock:
            self.submissions += 1
            if self.refusals:
                refusal = self.refusals.pop(0)
                headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else {}
                return _problem(refusal.status, refusal.code), refusal.status, headers
            photo = request.files["image"].read()
            if photo == b"bad":
                return _problem(415, "unsupported-image-type"), 415
            job_id = secrets.token_urlsafe(8)
            self._jobs[job_id] = _Job(photo)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return jsonify(job_id=job_id, status="queued"), 202

    def _get(self, job_id: str) -> Response | tuple[Response, int]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return _problem(404, "job-not-found"), 404
            job.polls += 1
            if job.polls < self.polls_to_end:
                return jsonify(job_id=job_id, status="running")
            if job.polls == self.polls_to_end:
                self.in_flight -= 1
        return jsonify(_ended(job_id, job.photo))


def _ended(job_id: str, photo: bytes) -> dict[str, object]:
    if photo == b"fail":
        error = {"code": "index-missing", "message": "no reference index exists yet"}
        return {"job_id": job_id, "status": "failed", "error": error}
    lat = float(photo.removeprefix(b"place "))
    match = {"id": f"ref-{lat:g}", "lat": lat, "lon": 4.0, "score": 0.9}
    location = {"lat": lat, "lon": 4.0, "radius_m": 25.0, "confidence": 0.8, "method": "x"}
    return {
        "job_id": job_id,
        "status": "succeeded",
        "result": {"matches": [match], "location": location},
    }


def _problem(status: int, code: str) -> Response:
    response = jsonify(type="about:blank", title=code, status=status, code=code, detail=code)
    response.mimetype = "application/problem+json"
    return response


@contextmanager
def serving(gateway: FakeGateway) -> Iterator[str]:
    """Serve ``gateway`` on a free local port for the block; yields its URL."""
    server = make_server("127.0.0.1", 0, gateway.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
