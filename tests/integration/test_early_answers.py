"""Answers given before the body is read reach clients that send their whole body first.

The gateway runs as ``scripts/up`` and ``geopin up`` serve it (gunicorn, sync workers), and the
client is Python's http.client, which writes every byte of the body before it reads a byte of
the answer: without the drain (geopin_gateway/drain.py) its send fails with a broken pipe.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.stack import start_gateway

MIB = 1024 * 1024
UPLOAD_LIMIT = 2 * MIB
DRAIN_LIMIT = 32 * MIB


@pytest.fixture(scope="module")
def gateway_url(
    redis_module_db: str, es_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "GEOPIN_REDIS__URL": redis_module_db,
        "GEOPIN_ELASTICSEARCH__URL": es_server,
        "GEOPIN_IMAGES__MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "GEOPIN_LIMITS__DRAIN_BYTES": str(DRAIN_LIMIT),
        "GEOPIN_LIMITS__ENABLED": "false",
    }
    gateway, url = start_gateway(env, Path(tmp_path_factory.mktemp("logs")))
    yield url
    gateway.stop()


def _send_all_then_read(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, str]]:
    """POST /v1/jobs the way http.client does: headers and the whole body, then the answer."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.request("POST", "/v1/jobs", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _multipart(photo: bytes) -> tuple[bytes, str]:
    boundary = "geopin-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return (
        head + photo + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


JPEG_LIKE = b"\xff\xd8\xff" + bytes(25 * MIB)


def test_upload_far_above_the_limit_gets_its_413_when_sent_whole_before_reading(
    gateway_url: str,
) -> None:
    status, problem = _send_all_then_read(gateway_url, JPEG_LIKE, "image/jpeg")
    assert (status, problem["code"]) == (413, "upload-too-large")


def test_multipart_upload_far_above_the_limit_gets_its_413_when_sent_whole_before_reading(
    gateway_url: str,
) -> None:
    status, problem = _send_all_then_read(gateway_url, *_multipart(JPEG_LIKE))
    assert (status, problem["code"]) == (413, "upload-too-large")


def test_refusal_from_the_headers_alone_reaches_a_client_still_sending_its_body(
    gateway_url: str,
) -> None:
    status, problem = _send_all_then_read(gateway_url, bytes(8 * MIB), "application/pdf")
    assert (status, problem["code"]) == (415, "unsupported-media-type")


def test_body_declared_above_the_drain_bound_is_cut_off_unread(gateway_url: str) -> None:
    # The bound is what stops a client from tying a worker up with an endless body.
    with pytest.raises(ConnectionError):  # a broken pipe or a reset, by timing
        _send_all_then_read(gateway_url, bytes(DRAIN_LIMIT + 16 * MIB), "image/jpeg")
