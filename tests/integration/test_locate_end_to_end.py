"""A photo goes in over HTTP and comes back located: gateway, workers, Redis, Elasticsearch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from geopin.client import GeoPinClient

from tests.support.factories import perturbed, place_location, place_photo
from tests.support.stack import running_stack


@pytest.fixture
def gateway_url(
    redis_db: str, base_env: dict[str, str], reference_manifest: Path, tmp_path: Path
) -> Iterator[str]:
    env = {**base_env, "GEOPIN_REDIS__URL": redis_db}
    with running_stack(env, tmp_path) as url:
        yield url


def test_unchanged_reference_photo_is_its_own_top_match(
    gateway_url: str, reference_manifest: Path
) -> None:
    client = GeoPinClient(gateway_url)
    job = client.wait(client.submit(reference_manifest.parent / "place-007.jpg"), 60)
    assert job["status"] == "succeeded", job
    matches = job["result"]["matches"]
    assert len(matches) == 10  # the default top_k
    assert matches[0]["id"] == "place-007"
    assert matches[0]["score"] > 0.999
    lat, lon = place_location(7)
    location = job["result"]["location"]
    assert (location["lat"], location["lon"]) == pytest.approx((lat, lon), abs=1e-6)
    assert location["method"] == "anchored-cluster"
    scores = [m["score"] for m in matches]
    assert scores == sorted(scores, reverse=True)


def test_perturbed_photo_sent_as_raw_body_is_located(gateway_url: str) -> None:
    response = requests.post(
        gateway_url + "/v1/jobs?top_k=5",
        data=perturbed(place_photo(11)),
        headers={"Content-Type": "image/jpeg"},
        timeout=10,
    )
    assert response.status_code == 202
    assert response.headers["Location"].endswith(response.json()["job_id"])
    job = GeoPinClient(gateway_url).wait(response.json()["job_id"], 60)
    assert job["status"] == "succeeded", job
    assert len(job["result"]["matches"]) == 5
    assert job["created_at"] <= job["updated_at"]


def test_locate_command_prints_the_result(gateway_url: str, reference_manifest: Path) -> None:
    from click.testing import CliRunner
    from geopin.cli import main

    photo = reference_manifest.parent / "place-003.jpg"
    result = CliRunner().invoke(main, ["locate", str(photo), "--url", gateway_url, "--top-k", "3"])
    assert result.exit_code == 0, result.output
    assert "best match: place-003 (score " in result.output


def test_locate_command_searches_only_inside_the_given_circle(
    gateway_url: str, reference_manifest: Path
) -> None:
    from click.testing import CliRunner
    from geopin.cli import main

    lat, lon = place_location(0)  # the grid's places stand about 100 m apart
    photo = reference_manifest.parent / "place-009.jpg"
    area = ["--center", f"{lat},{lon}", "--radius-m", "50"]
    argv = ["locate", str(photo), "--url", gateway_url, "--json", *area]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert [m["id"] for m in job["result"]["matches"]] == ["place-000"]
