"""Log lines carry the job they concern, along the job's whole path, as text or JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from geopin.logs import bind_job, make_handler
from geopin.settings import Mode, Settings
from geopin_gateway.app import create_app
from PIL import Image

from tests.support.factories import encode


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes through a JSON handler during the test."""
    stream = io.StringIO()
    handler = make_handler("json")
    handler.setStream(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    bind_job(None)


def _records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_name_the_bound_job_whichever_module_logs(json_lines: io.StringIO) -> None:
    bind_job("job-123")
    logging.getLogger("geopin.pipeline").info("embedding")
    logging.getLogger("some.library").warning("slow")
    bind_job(None)
    logging.getLogger("geopin.pipeline").info("idle")
    records = _records(json_lines)
    assert [r["job_id"] for r in records] == ["job-123", "job-123", "-"]
    assert records[0]["message"] == "embedding"
    assert records[1]["level"] == "WARNING"


def test_the_text_format_names_the_job_too() -> None:
    stream = io.StringIO()
    handler = make_handler("text")
    handler.setStream(stream)
    logger = logging.getLogger("geopin.test.text")
    logger.addHandler(handler)
    bind_job("job-456")
    try:
        logger.warning("hello")
    finally:
        bind_job(None)
        logger.removeHandler(handler)
    assert "[job job-456]: hello" in stream.getvalue()


def test_the_gateway_logs_a_submission_with_the_new_job_id(
    tmp_path: Path, json_lines: io.StringIO
) -> None:
    client = create_app(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path)).test_client()
    response = client.post(
        "/v1/jobs", data=encode(Image.new("RGB", (64, 48))), content_type="image/jpeg"
    )
    job_id = response.get_json()["job_id"]
    queued = [r for r in _records(json_lines) if "queued" in r["message"]]
    assert queued
    assert all(r["job_id"] == job_id for r in queued)
