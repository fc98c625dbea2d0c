"""Search areas on real jobs, and `geopin eval` through the running service.

One stack (gateway, embedder, searcher) for the module, whose index holds the database of a
tiny generated VPR dataset: photos 40 m apart along one street.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from click.testing import CliRunner
from geopin.cli import main
from geopin.client import GeoPinClient

from tests.support.factories import write_vpr_dataset
from tests.support.stack import delete_indices, running_stack

DATABASE = 10
QUERIES: list[tuple[int | None, float]] = [(2, 0.0), (6, 4.0), (None, 5000.0)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_vpr_dataset(tmp_path_factory.mktemp("vpr") / "street", DATABASE, QUERIES)


@pytest.fixture(scope="module")
def env(redis_module_db: str, es_server: str, base_env: dict[str, str]) -> Iterator[dict[str, str]]:
    alias = f"geopin-test-eval-{uuid.uuid4().hex[:8]}"
    yield {
        **base_env,
        "GEOPIN_REDIS__URL": redis_module_db,
        "GEOPIN_ELASTICSEARCH__INDEX": alias,
        "GEOPIN_IMAGES__SHORTER_SIDE": "128",  # small inputs keep the module fast
    }
    delete_indices(es_server, alias)


@pytest.fixture(scope="module")
def gateway_url(
    env: dict[str, str], dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("logs")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        database, report = dataset / "images/test/database", logs / "report.jsonl"
        added = CliRunner().invoke(main, ["index", "add", str(database), "--report", str(report)])
    assert added.exit_code == 0, added.output
    with running_stack(env, logs) as url:
        yield url


def _database(dataset: Path) -> list[str]:
    """Database photo names, west to east (sorted by name = by UTM east here)."""
    return sorted(p.name for p in (dataset / "images/test/database").iterdir())


def _latlon(vpr_name: str) -> tuple[float, float]:
    lat, lon = vpr_name.split("@")[5:7]
    return float(lat), float(lon)


def _photo(dataset: Path, part: str, index: int) -> bytes:
    return sorted((dataset / "images/test" / part).iterdir())[index].read_bytes()


def test_a_bounding_box_keeps_matches_inside_it_and_is_stored_on_the_job(
    gateway_url: str, dataset: Path
) -> None:
    # Database photo 2 itself, searched only around photos 7-9 of the street.
    names = _database(dataset)
    west = (_latlon(names[6])[1] + _latlon(names[7])[1]) / 2
    response = requests.post(
        f"{gateway_url}/v1/jobs",
        files={"image": ("p.jpg", (dataset / "images/test/database" / names[2]).read_bytes())},
        data={"bbox": f"52.38,{west},52.40,4.92", "top_k": "5"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job = GeoPinClient(gateway_url).wait(response.json()["job_id"], 60)
    assert job["status"] == "succeeded", job
    assert job["geo_filter"] == {
        "type": "bbox",
        "south": 52.38,
        "west": west,
        "north": 52.40,
        "east": 4.92,
    }
    assert sorted(m["id"] for m in job["result"]["matches"]) == names[7:]
    assert job["result"]["location"]["method"] == "anchored-cluster"


def test_a_circle_keeps_matches_within_its_radius(gateway_url: str, dataset: Path) -> None:
    photo = _photo(dataset, "database", 0)
    lat, lon = _latlon(_database(dataset)[0])
    response = requests.post(
        f"{gateway_url}/v1/jobs?center={lat},{lon}&radius_m=50",
        data=photo,
        headers={"Content-Type": "image/jpeg"},
        timeout=10,
    )
    job = GeoPinClient(gateway_url).wait(response.json()["job_id"], 60)
    assert job["status"] == "succeeded", job
    assert [m["score"] > 0.999 for m in job["result"]["matches"]] == [True, False]  # 0 m, 40 m


def test_a_bad_search_area_is_refused_and_nothing_is_queued(
    gateway_url: str, env: dict[str, str], dataset: Path
) -> None:
    response = requests.post(
        f"{gateway_url}/v1/jobs",
        files={"image": ("p.jpg", _photo(dataset, "queries", 0))},
        data={"bbox": "53,4,52,5"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid-geo-filter"
    assert redis.Redis.from_url(env["GEOPIN_REDIS__URL"]).llen("embed") == 0


def test_eval_through_the_service_agrees_with_in_process_eval(
    gateway_url: str,
    env: dict[str, str],
    dataset: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    results = {}
    for mode, extra in (("service", ["--url", gateway_url]), ("local", [])):
        out = tmp_path / mode
        run = CliRunner().invoke(main, ["eval", str(dataset), "-o", str(out), *extra])
        assert run.exit_code == 0, run.output
        results[mode] = json.loads((out / "results.json").read_text())
    service, local = results["service"], results["local"]
    assert service["mode"].startswith("service at")
    # Two byte-exact copies (one 4 m off) are found first; the far query has no positive.
    assert service["recall_percent"] == local["recall_percent"]
    assert service["recall_percent"]["1"] == pytest.approx(200 / 3, abs=0.01)
    assert service["estimate_within_percent"]["top1"] == local["estimate_within_percent"]["top1"]
