"""One photo's answer from GeoPin, typed: where (the estimate), the best match, or why not.

What ``GeoPinClient.locate_many`` yields and ``geopin locate`` writes. It reads the job JSON as
the API documents it; the estimate is the job's ``location``, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["succeeded", "failed"]

# A failure with one of these codes comes from the photo itself (its bytes, its size): sending
# it again fails the same way, so it is an answer, and a resumed run skips it.
PHOTO_FAULTS = frozenset(
    {
        "empty-upload",
        "undecodable-image",
        "image-too-many-pixels",
        "unsupported-image-type",
        "upload-too-large",
    }
)

# Codes the client gives where the gateway gave none; a resumed run tries these photos again.
UNREADABLE_FILE = "unreadable-file"  # the photo's file could not be read here
WAIT_TIMEOUT = "wait-timeout"  # the job had not ended when the client stopped waiting


@dataclass(frozen=True)
class Estimate:
    """The job's ``location``: the consensus of its matches (docs/location.md)."""

    lat: float
    lon: float
    radius_m: float
    confidence: float


@dataclass(frozen=True)
class BestMatch:
    """The job's first match: the reference photo most like this one."""

    id: str
    lat: float
    lon: float
    score: float


@dataclass(frozen=True)
class Answer:
    photo: str
    status: Status
    job_id: str | None = None
    estimate: Estimate | None = None
    best_match: BestMatch | None = None
    error_code: str | None = None
    error_message: str | None = None
    job: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The whole job as the API returned it (None when no job was made)."""

    @property
    def final(self) -> bool:
        """Asking again would give the same answer: a resumed run skips this photo."""
        return is_final(self.status, self.error_code)

    @classmethod
    def from_job(cls, photo: str, job: Mapping[str, Any]) -> Answer:
        """The answer an ended job gives (status ``succeeded`` or ``failed``)."""
        job_id = str(job["job_id"])
        if job["status"] != "succeeded":
            error = job.get("error") or {}
            return cls.failure(photo, error.get("code"), error.get("message"), job_id, job)
        result = job.get("result") or {}
        location = result.get("location")
        matches = result.get("matches") or []
        return cls(
            photo,
            "succeeded",
            job_id,
            estimate=_estimate(location) if location else None,
            best_match=_best_match(matches[0]) if matches else None,
            job=job,
        )

    @classmethod
    def failure(
        cls,
        photo: str,
        code: str | None,
        message: str | None,
        job_id: str | None = None,
        job: Mapping[str, Any] | None = None,
    ) -> Answer:
        return cls(photo, "failed", job_id, error_code=code, error_message=message, job=job)


def is_final(status: str, error_code: str | None) -> bool:
    return status == "succeeded" or (status == "failed" and error_code in PHOTO_FAULTS)


def _estimate(location: Mapping[str, Any]) -> Estimate:
    return Estimate(
        float(location["lat"]),
        float(location["lon"]),
        float(location["radius_m"]),
        float(location["confidence"]),
    )


def _best_match(match: Mapping[str, Any]) -> BestMatch:
    return BestMatch(
        str(match["id"]), float(match["lat"]), float(match["lon"]), float(match["score"])
    )
