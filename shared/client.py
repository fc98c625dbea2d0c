"""A small Python client of the GeoPin HTTP API (used by ``geopin locate``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests


class ApiError(RuntimeError):
    """The gateway answered with a problem document (or could not be reached)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class GeoPinClient:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_s
        self._http = requests.Session()

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(
                method, self.base_url + path, timeout=self._timeout, **kwargs
            )
        except requests.ConnectionError as exc:
            raise ApiError(
                f"cannot reach GeoPin at {self.base_url}: is the gateway running?"
            ) from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            detail = body.get("detail") or response.reason
            raise ApiError(
                f"{response.status_code}: {detail}", response.status_code, body.get("code")
            )
        return body

    def submit(self, photo: Path | bytes, top_k: int | None = None) -> str:
        """Upload a photo; returns the job ID."""
        data = photo.read_bytes() if isinstance(photo, Path) else photo
        form = {"top_k": str(top_k)} if top_k is not None else {}
        body = self._request("POST", "/v1/jobs", files={"image": ("photo", data)}, data=form)
        return str(body["job_id"])

    def get(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/jobs/{job_id}")

    def wait(self, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """Poll until the job has ended, backing off from 0.1 s to 2 s between polls."""
        deadline = time.monotonic() + timeout_s
        delay = 0.1
        while True:
            job = self.get(job_id)
            if job["status"] in ("succeeded", "failed"):
                return job
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
