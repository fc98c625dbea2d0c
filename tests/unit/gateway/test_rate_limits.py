"""Each /v1 view carries its limit, from the settings; a breach is a 429 problem.

Embedded backends: the limiter counts in memory, as it does for an embedded gateway.
"""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient
from geopin.settings import Mode, Settings
from geopin_gateway.app import create_app


def _client(tmp_path: Path, **limits: object) -> FlaskClient:
    settings = Settings(mode=Mode.EMBEDDED, data_dir=tmp_path, limits=limits)
    return create_app(settings).test_client()


def test_reads_over_the_limit_answer_429_with_retry_after(tmp_path: Path) -> None:
    client = _client(tmp_path, read="2/minute")
    assert [client.get("/v1/jobs/some-job").status_code for _ in range(2)] == [404, 404]
    response = client.get("/v1/jobs/some-job")
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "rate-limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_each_view_is_counted_under_its_own_limit(tmp_path: Path) -> None:
    client = _client(tmp_path, read="1/minute", submit="3/minute")
    assert client.get("/v1/jobs/a").status_code == 404
    assert client.get("/v1/references/a/thumbnail").status_code == 404  # its own count
    assert client.get("/v1/jobs/a").status_code == 429
    assert client.get("/v1/references/a/thumbnail").status_code == 429
    redeliveries = [client.post("/v1/jobs/a/redeliver").status_code for _ in range(4)]
    assert redeliveries == [404, 404, 404, 429]


def test_probes_and_documents_are_never_limited(tmp_path: Path) -> None:
    client = _client(tmp_path, read="1/minute", submit="1/minute")
    for path in ("/healthz", "/openapi.json", "/docs"):
        assert {client.get(path).status_code for _ in range(3)} == {200}


def test_limits_can_be_switched_off(tmp_path: Path) -> None:
    client = _client(tmp_path, enabled=False, read="1/minute")
    assert {client.get("/v1/jobs/a").status_code for _ in range(3)} == {404}


def test_keys_off_on_a_loopback_bind_leaves_the_one_local_user_unthrottled(
    tmp_path: Path,
) -> None:
    client = _client(tmp_path, bind_host="127.0.0.1", read="1/minute")
    assert {client.get("/v1/jobs/a").status_code for _ in range(5)} == {404}


def test_keys_off_on_a_reachable_bind_throttles_each_client_address(tmp_path: Path) -> None:
    client = _client(tmp_path, bind_host="0.0.0.0", read="1/minute")  # noqa: S104 -- the reachable bind
    assert [client.get("/v1/jobs/a").status_code for _ in range(2)] == [404, 429]


def _from(client_ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": client_ip}


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(
    tmp_path: Path,
) -> None:
    # The test client's peer address is 127.0.0.1: here, the proxy.
    client = _client(tmp_path, read="1/minute", trusted_proxies=["127.0.0.1/32"])
    first = [client.get("/v1/jobs/a", headers=_from("198.51.100.1")).status_code for _ in "ab"]
    other = client.get("/v1/jobs/a", headers=_from("198.51.100.2")).status_code
    assert (first, other) == ([404, 429], 404)


def test_an_untrusted_peer_cannot_escape_its_limit_by_naming_other_clients(
    tmp_path: Path,
) -> None:
    client = _client(tmp_path, read="1/minute")
    statuses = [
        client.get("/v1/jobs/a", headers=_from(f"198.51.100.{n}")).status_code for n in (1, 2)
    ]
    assert statuses == [404, 429]
