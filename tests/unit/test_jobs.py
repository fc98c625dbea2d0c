from __future__ import annotations

from geopin.jobs import Job, JobError, JobStatus, StatusChange, new_job_id


def test_job_ids_are_unique_and_carry_at_least_128_random_bits() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) * 6 >= 128 for i in ids)  # URL-safe base64: 6 bits a character


def test_public_view_shows_result_only_when_succeeded() -> None:
    job = Job(job_id="j", top_k=3)
    assert "result" not in job.public()
    assert "error" not in job.public()
    job.status, job.result = JobStatus.SUCCEEDED, {"matches": [], "location": None}
    job.history.append(StatusChange(JobStatus.SUCCEEDED, "2026-01-01T00:00:00.000Z"))
    assert job.public()["result"] == {"matches": [], "location": None}
    assert job.public()["updated_at"] == "2026-01-01T00:00:00.000Z"


def test_public_view_shows_error_only_when_failed() -> None:
    job = Job(job_id="j", top_k=3, status=JobStatus.FAILED, error=JobError("x", "y"))
    assert job.public()["error"] == {"code": "x", "message": "y"}
    assert "result" not in job.public()


def test_job_survives_a_json_round_trip() -> None:
    job = Job(job_id="j", top_k=7, status=JobStatus.FAILED, error=JobError("c", "m"))
    again = Job.from_json(job.to_json())
    assert again == job
    assert again.history[0].status is JobStatus.FAILED
