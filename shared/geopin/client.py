"""A small Python client of the GeoPin HTTP API (used by ``geopin locate``).

It honours the gateway's limits: a 429 or 503 is tried again after its ``Retry-After`` (with
backoff where none is given), for ``retry_for_s`` at most. ``locate_many`` locates many photos
with a bounded number of jobs in flight and yields typed answers as they end.

``verify_webhook`` is here too, so a receiver needs only this module to check what GeoPin
sends it (see examples/webhook_receiver.py).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

from geopin.answers import PHOTO_FAULTS, UNREADABLE_FILE, WAIT_TIMEOUT, Answer
from geopin.webhooks.signing import InvalidSignature, verify

__all__ = ["Answer", "ApiError", "Batch", "GeoPinClient", "InvalidSignature", "verify_webhook"]

# Answers worth asking again for: over a limit, busy, or a proxy in front without its backend.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
FIRST_BACKOFF_S = 0.5  # the pause before a retry the gateway gave no Retry-After for
MAX_BACKOFF_S = 30.0
POLL_FIRST_S, POLL_MAX_S = 0.1, 2.0  # polls of a job back off from the first to the last


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
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after_s = status, code, retry_after_s
        self.detail = detail or message  # the problem's own words, without the status


class GeoPinClient:
    """Calls one gateway. Safe to share between threads: each thread gets its own session."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retry_for_s: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_s
        self._retry_for_s = retry_for_s
        self._api_key = api_key
        self._sessions = threading.local()  # a requests.Session is not safe across threads
        # A gateway that never answered is probably not running: say so at once, rather than
        # retrying as for one that answered before and dropped out (a restart, a deploy).
        self._reached = False

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
        return self._submit(data, _form(top_k, callback_url, fields))

    def redeliver(self, job_id: str) -> dict[str, Any]:
        """Send the ended job's webhook again; returns the job with its delivery attempts."""
        return self._request("POST", f"/v1/jobs/{job_id}/redeliver")

    def get(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/jobs/{job_id}")

    def wait(self, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """Poll until the job has ended, backing off from 0.1 s to 2 s between polls."""
        return self._wait(job_id, timeout_s)

    def locate_many(
        self,
        photos: Iterable[Path | str],
        top_k: int | None = None,
        callback_url: str | None = None,
        fields: Mapping[str, str] | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
    ) -> Batch:
        """Locate every photo, at most ``concurrency`` jobs in flight; iterate the returned
        batch for each photo's :class:`Answer`, in the order their jobs end.

        A photo the gateway refuses for what it is (corrupt, too large...) or whose job fails
        is a ``failed`` answer; a job still running after ``timeout_s`` a ``wait-timeout``
        one. What concerns every photo (a bad key or option, a gateway unreachable or busy
        past ``retry_for_s``) stops the batch and is raised from the iteration.
        """
        form = _form(top_k, callback_url, fields)
        return Batch(self, photos, form, concurrency, timeout_s)

    def _submit(
        self, data: bytes, form: Mapping[str, str], cancel: threading.Event | None = None
    ) -> str:
        files = {"image": ("photo", data)}
        body = self._request("POST", "/v1/jobs", cancel, files=files, data=dict(form))
        return str(body["job_id"])

    def _wait(
        self, job_id: str, timeout_s: float, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        delay = POLL_FIRST_S
        while True:
            job = self._request("GET", f"/v1/jobs/{job_id}", cancel)
            if job["status"] in ("succeeded", "failed"):
                return job
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s:.0f} s")
            _pause(delay, cancel)
            delay = min(delay * 1.5, POLL_MAX_S)

    def _request(
        self, method: str, path: str, cancel: threading.Event | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """One call, made again while the gateway says "later" (429, 503...), within
        ``retry_for_s``: after its Retry-After, or with doubling pauses where it gave none."""
        deadline = time.monotonic() + self._retry_for_s
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                return self._send(method, path, **kwargs)
            except ApiError as exc:
                if not (exc.status in RETRY_STATUSES or (exc.status is None and self._reached)):
                    raise
                pause = backoff if exc.retry_after_s is None else exc.retry_after_s
                pause *= random.uniform(1.0, 1.2)  # noqa: S311 -- spreads clients out; no secret
                if time.monotonic() + pause > deadline:
                    raise
                _pause(pause, cancel)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._session().request(
                method, self.base_url + path, timeout=self._timeout, **kwargs
            )
        except requests.ConnectionError as exc:
            raise ApiError(
                f"cannot reach GeoPin at {self.base_url}: is the gateway running?"
            ) from exc
        except requests.Timeout as exc:
            raise ApiError(f"GeoPin at {self.base_url} did not answer in time") from exc
        except requests.RequestException as exc:  # a malformed URL, a reply cut short...
            raise ApiError(f"cannot talk to GeoPin at {self.base_url}: {exc}") from exc
        self._reached = True
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            detail = body.get("detail") or response.reason
            raise ApiError(
                f"{response.status_code}: {detail}",
                response.status_code,
                body.get("code"),
                _seconds(response.headers.get("Retry-After", "")),
                detail,
            )
        return body

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
            if self._api_key:
                session.headers["Authorization"] = f"Bearer {self._api_key}"
        return session


class Batch(Iterator[Answer]):
    """Photos being located by a few threads, each taking one photo at a time to its end.

    Iterating yields answers as jobs end. :meth:`stop` submits nothing more and lets the jobs
    in flight finish (the iteration then ends); :meth:`abandon` ends the iteration at once.
    Photos never submitted, or abandoned in flight, get no answer.
    """

    def __init__(
        self,
        client: GeoPinClient,
        photos: Iterable[Path | str],
        form: Mapping[str, str],
        concurrency: int,
        timeout_s: float,
    ) -> None:
        self._client, self._form, self._timeout_s = client, form, timeout_s
        self._photos = iter(photos)
        self._take = threading.Lock()
        self._answers: queue.Queue[Answer | Exception] = queue.Queue()
        self._stopping, self._abandoned = threading.Event(), threading.Event()
        # Daemon threads: a second Ctrl-C leaves at once, without waiting for their polls.
        self._threads = [
            threading.Thread(target=self._work, name=f"geopin-locate-{n}", daemon=True)
            for n in range(max(1, concurrency))
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def abandon(self) -> None:
        self._stopping.set()
        self._abandoned.set()

    def __next__(self) -> Answer:
        while not self._abandoned.is_set():
            try:
                item = self._answers.get(timeout=0.2)
            except queue.Empty:
                if not any(t.is_alive() for t in self._threads) and self._answers.empty():
                    break
                continue
            if isinstance(item, Exception):
                raise item
            return item
        raise StopIteration

    def _work(self) -> None:
        try:
            while not self._stopping.is_set():
                with self._take:
                    photo = next(self._photos, None)
                if photo is None:
                    return
                answer = self._locate(str(photo))
                if answer is not None:
                    self._answers.put(answer)
        except Exception as exc:  # handed to the iterating thread, which raises it
            self._stopping.set()
            self._answers.put(exc)

    def _locate(self, photo: str) -> Answer | None:
        try:
            data = Path(photo).read_bytes()
        except OSError as exc:
            return Answer.failure(photo, UNREADABLE_FILE, exc.strerror or str(exc))
        try:
            job_id = self._client._submit(data, self._form, self._stopping)
        except _Cancelled:
            return None
        except ApiError as exc:
            if exc.code in PHOTO_FAULTS:
                return Answer.failure(photo, exc.code, exc.detail)
            raise
        try:
            job = self._client._wait(job_id, self._timeout_s, self._abandoned)
        except _Cancelled:
            return None
        except TimeoutError as exc:
            return Answer.failure(photo, WAIT_TIMEOUT, str(exc), job_id)
        return Answer.from_job(photo, job)


class _Cancelled(Exception):
    """A pause was cut short by the batch it served."""


def _pause(seconds: float, cancel: threading.Event | None) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise _Cancelled


def _form(
    top_k: int | None, callback_url: str | None, fields: Mapping[str, str] | None
) -> dict[str, str]:
    form = dict(fields or {})
    if top_k is not None:
        form["top_k"] = str(top_k)
    if callback_url is not None:
        form["callback_url"] = callback_url
    return form


def _seconds(retry_after: str) -> float | None:
    """Retry-After in seconds; None for an HTTP date or nothing (GeoPin always sends seconds)."""
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return None
