"""A small Python client of the GeoPin HTTP API (used by ``geopin locate``).

``verify_webhook`` is here too, so a receiver needs only this module to check what GeoPin
sends it (see examples/webhook_receiver.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from geopin.webhooks.signing import InvalidSignature, verify

__all__ = ["ApiError", "GeoPinClient", "InvalidSignature", "verify_webhook"]


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str) -> dict[str, Any]:
    """The event GeoPin sent, once its Standard Webhooks signature has been checked.

    Pass the raw request body, byte for byte, and the ``whsec_...`` secret of your API key (or
    of the deployment). Raises InvalidSignature for a forged, altered or replayed webhook
    (timestamps more than five minutes off are refused). Deduplicate by the ``webhook-id``
    header: it is the same for every retry and redelivery of one job's webhook.
    """
    event: dict[str, Any] = verify(headers, body, secret)
    return event


class ApiError(RuntimeError):
    """The gateway answered with a problem document (or could not be reached)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after_s = status, code, retry_after_s


class GeoPinClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_s
        self._http = requests.Session()
        if api_key:
            self._http.headers["Authorization"] = f"Bearer {api_key}"

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
            retry_after = response.headers.get("Retry-After", "")
            raise ApiError(
                f"{response.status_code}: {detail}",
                response.status_code,
                body.get("code"),
                float(retry_after) if retry_after.isdigit() else None,
            )
        return body

    def submit(
        self,
        photo: Path | str | bytes,
        top_k: int | None = None,
        callback_url: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> str:
        """Upload a photo (a path, or its bytes); returns the job ID.

        ``callback_url`` gets a signed webhook when the job ends; ``fields`` are other form
        fields, such as a search area (``bbox``, or ``center`` and ``radius_m``).
        """
        data = photo if isinstance(photo, bytes) else Path(photo).read_bytes()
        form = dict(fields or {})
        if top_k is not None:
            form["top_k"] = str(top_k)
        if callback_url is not None:
            form["callback_url"] = callback_url
        body = self._request("POST", "/v1/jobs", files={"image": ("photo", data)}, data=form)
        return str(body["job_id"])

    def redeliver(self, job_id: str) -> dict[str, Any]:
        """Send the ended job's webhook again; returns the job with its delivery attempts."""
        return self._request("POST", f"/v1/jobs/{job_id}/redeliver")

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
