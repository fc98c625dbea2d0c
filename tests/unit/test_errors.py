"""The catalogue of error codes: every code a component raises has an entry, and the gateway
can only answer with catalogued codes, at their catalogued status."""

from __future__ import annotations

import pytest
from geopin.errors import CATALOGUE, UnknownErrorCode, api_codes, error_code, failed_job_codes
from geopin.images import ImageRejected
from geopin.index import IndexMissing, IndexProblem, IndexUnavailable, ModelMismatch
from geopin.jobs import StoreUnavailable
from geopin.queue.retry import TRANSIENT_ERRORS
from geopin_gateway.problems import Problem


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def test_every_photo_refusal_is_an_api_answer_and_a_failed_jobs_code() -> None:
    codes = [c.code for c in _subclasses(ImageRejected)]
    assert codes
    for code in codes:
        assert error_code(code).status in (400, 415)
        assert error_code(code).in_failed_jobs


@pytest.mark.parametrize("error", [IndexMissing, ModelMismatch, IndexUnavailable])
def test_index_errors_that_end_a_job_are_failed_jobs_codes(error: type[IndexProblem]) -> None:
    assert error_code(error.code).in_failed_jobs


@pytest.mark.parametrize("outage", TRANSIENT_ERRORS)
def test_an_outage_a_job_waited_out_in_vain_ends_it_with_its_own_code(
    outage: type[Exception],
) -> None:
    code = outage("down").code
    assert code != "internal-error"
    assert error_code(code).in_failed_jobs


def test_backend_outages_answer_503() -> None:
    assert error_code(StoreUnavailable.code).status == 503
    assert error_code(IndexUnavailable.code).status == 503


def test_every_code_is_an_api_answer_or_a_failed_jobs_code() -> None:
    for entry in CATALOGUE.values():
        assert entry.status is not None or entry.in_failed_jobs, entry.code
        assert entry.title, entry.code
        assert entry.when, entry.code
    assert {e.code for e in api_codes()} | {e.code for e in failed_job_codes()} == set(CATALOGUE)


def test_api_codes_come_by_status() -> None:
    statuses = [e.status for e in api_codes()]
    assert statuses == sorted(statuses)


def test_an_unknown_code_is_refused() -> None:
    with pytest.raises(UnknownErrorCode, match="no-such-code"):
        error_code("no-such-code")


def test_a_problem_takes_its_status_and_title_from_the_catalogue() -> None:
    problem = Problem.of("job-not-found", "gone")
    assert (problem.status, problem.title, problem.detail) == (404, "Job not found", "gone")


def test_a_problem_cannot_name_an_uncatalogued_code_or_another_status() -> None:
    with pytest.raises(UnknownErrorCode):
        Problem.of("no-such-code", "detail")
    with pytest.raises(UnknownErrorCode):
        Problem(400, "no-such-code", "Title", "detail")
    with pytest.raises(ValueError, match="answers 503"):
        Problem(500, "queue-unavailable", "Queue unavailable", "detail")
    with pytest.raises(ValueError, match="failed job"):
        Problem.of("upload-expired", "an upload cannot expire in a request")


def test_a_backend_outage_problem_can_still_be_built_with_its_status_and_title() -> None:
    headers = {"Retry-After": "5"}
    problem = Problem(503, "queue-unavailable", "Queue unavailable", "Redis is down", headers)
    assert problem.headers == headers
