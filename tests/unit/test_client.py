"""The Python client honours the gateway's limits and locates many photos a few at a time.

Against a stand-in gateway over real HTTP (tests/support/fake_gateway.py), so requests,
retries and threads run as they do against GeoPin.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from geopin.answers import Answer
from geopin.client import ApiError, GeoPinClient

from tests.support.fake_gateway import FakeGateway, Refusal
from tests.support.stack import free_port


def _photos(folder: Path, contents: list[bytes]) -> list[Path]:
    paths = []
    for n, content in enumerate(contents):
        path = folder / f"p{n:02d}.jpg"
        path.write_bytes(content)
        paths.append(path)
    return paths


def _places(folder: Path, count: int) -> list[Path]:
    return _photos(folder, [b"place %d" % n for n in range(count)])


def test_a_submission_over_the_limit_is_sent_again_after_its_retry_after(
    gateway: FakeGateway, url: str
) -> None:
    gateway.refusals = [Refusal(429, "rate-limited", retry_after="1")]
    started = time.monotonic()
    GeoPinClient(url).submit(b"place 1")
    assert time.monotonic() - started >= 1.0
    assert gateway.submissions == 2


def test_a_busy_gateway_without_retry_after_is_asked_again_with_backoff(
    gateway: FakeGateway, url: str
) -> None:
    gateway.refusals = [Refusal(503, "queue-full"), Refusal(503, "queue-unavailable")]
    started = time.monotonic()
    job_id = GeoPinClient(url).submit(b"place 1")
    assert time.monotonic() - started >= 0.5 + 1.0  # the first two pauses
    assert GeoPinClient(url).wait(job_id, 10)["status"] == "succeeded"


def test_limits_that_outlast_retry_for_s_are_raised(gateway: FakeGateway, url: str) -> None:
    gateway.refusals = [Refusal(429, "rate-limited", retry_after="60")]
    with pytest.raises(ApiError) as raised:
        GeoPinClient(url, retry_for_s=5).submit(b"place 1")
    assert (raised.value.status, raised.value.code) == (429, "rate-limited")
    assert gateway.submissions == 1


def test_a_gateway_never_reached_is_reported_at_once() -> None:
    client = GeoPinClient(f"http://127.0.0.1:{free_port()}", retry_for_s=300)
    started = time.monotonic()
    with pytest.raises(ApiError, match="is the gateway running"):
        client.submit(b"place 1")
    assert time.monotonic() - started < 10


def test_locate_many_answers_each_photo_with_at_most_concurrency_jobs_in_flight(
    gateway: FakeGateway, url: str, tmp_path: Path
) -> None:
    gateway.polls_to_end = 3
    photos = _places(tmp_path, 12)
    answers = list(GeoPinClient(url).locate_many(photos, concurrency=3))
    assert sorted(a.photo for a in answers) == sorted(str(p) for p in photos)
    assert 1 < gateway.max_in_flight <= 3
    for answer in answers:
        assert answer.status == "succeeded"
        assert answer.estimate is not None
        assert answer.best_match is not None
        n = int(Path(answer.photo).stem[1:])
        assert (answer.estimate.lat, answer.best_match.id) == (n, f"ref-{n}")


def test_a_photo_refused_for_itself_is_a_final_failed_answer_and_the_rest_go_on(
    url: str, tmp_path: Path
) -> None:
    photos = _photos(tmp_path, [b"place 1", b"bad", b"place 2"])
    answers = {a.photo: a for a in GeoPinClient(url).locate_many(photos, concurrency=2)}
    refused = answers[str(photos[1])]
    assert (refused.status, refused.error_code, refused.job_id) == (
        "failed",
        "unsupported-image-type",
        None,
    )
    assert refused.final
    assert [answers[str(p)].status for p in (photos[0], photos[2])] == ["succeeded"] * 2


def test_a_failed_job_is_a_failed_answer_worth_asking_again(url: str, tmp_path: Path) -> None:
    (answer,) = GeoPinClient(url).locate_many(_photos(tmp_path, [b"fail"]))
    assert (answer.status, answer.error_code) == ("failed", "index-missing")
    assert answer.job_id is not None
    assert not answer.final


def test_an_unreadable_photo_file_is_a_failed_answer(url: str, tmp_path: Path) -> None:
    (answer,) = GeoPinClient(url).locate_many([tmp_path / "gone.jpg"])
    assert (answer.status, answer.error_code, answer.final) == ("failed", "unreadable-file", False)


def test_a_job_still_running_when_the_wait_ends_is_a_wait_timeout_answer(
    gateway: FakeGateway, url: str, tmp_path: Path
) -> None:
    gateway.polls_to_end = 1000
    (answer,) = GeoPinClient(url).locate_many(_places(tmp_path, 1), timeout_s=0.5)
    assert (answer.status, answer.error_code, answer.final) == ("failed", "wait-timeout", False)


def test_a_refusal_that_concerns_every_photo_stops_the_batch_and_is_raised(
    gateway: FakeGateway, url: str, tmp_path: Path
) -> None:
    gateway.refusals = [Refusal(401, "missing-api-key")]
    with pytest.raises(ApiError) as raised:
        list(GeoPinClient(url).locate_many(_places(tmp_path, 20), concurrency=1))
    assert raised.value.code == "missing-api-key"
    assert gateway.submissions == 1


def test_stop_submits_nothing_more_and_lets_the_jobs_in_flight_end(
    gateway: FakeGateway, url: str, tmp_path: Path
) -> None:
    gateway.polls_to_end = 3
    batch = GeoPinClient(url).locate_many(_places(tmp_path, 30), concurrency=2)
    answers: list[Answer] = [next(batch)]
    batch.stop()
    answers.extend(batch)
    assert len(answers) == gateway.submissions < 30
    assert {a.status for a in answers} == {"succeeded"}
    assert gateway.in_flight == 0
