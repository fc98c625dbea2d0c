"""A folder of 200 photos located by one command on `geopin up`: no 429 on a local run, a
progress bar, and a GeoJSON file that GDAL (Debian's gdal-bin) reads as RFC 7946."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import perturbed, place_photo, write_reference_set
from tests.support.geopin_up import embedded_env, geopin_up, run_geopin
from tests.support.stack import free_port, http_status, wait_until

PLACES = 32
QUERIES = 200


def _answers_by_status(metrics: str) -> dict[str, float]:
    """Submissions the gateway answered, by HTTP status, from its /metrics."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "geopin_http_requests_total" and labels["route"] == "/v1/jobs":
                counts[labels["status"]] = counts.get(labels["status"], 0) + sample.value
    return counts


@pytest.mark.timeout(1200)
def test_a_folder_of_200_photos_is_located_by_one_command_on_geopin_up(
    tmp_path: Path, model_path: Path
) -> None:
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "no ogrinfo: install Debian's gdal-bin (scripts/test does)"
    env = embedded_env(tmp_path / "data", model_path)
    manifest = write_reference_set(tmp_path / "refs", PLACES)
    queries = tmp_path / "queries"
    queries.mkdir()
    for n in range(QUERIES):
        (queries / f"q-{n:03d}.jpg").write_bytes(perturbed(place_photo(n % PLACES)))
    out = tmp_path / "located.geojson"

    with geopin_up(env, free_port(), tmp_path / "up.log") as up:
        url = up.url
        report = str(tmp_path / "report.jsonl")
        added = run_geopin(env, "index", "add", str(manifest), "--report", report)
        assert f"indexed {PLACES} photo(s)" in added.stdout, added.stderr
        wait_until(lambda: http_status(f"{url}/readyz") == 200, 60, "readiness")
        located = run_geopin(
            env, "locate", str(queries), "-o", str(out), "--url", url, timeout_s=900
        )
        submissions = _answers_by_status(requests.get(f"{url}/metrics", timeout=10).text)

    assert located.returncode == 0, located.stderr[-3000:]
    assert "photo/s" in located.stderr  # the progress bar's rate
    assert f"{QUERIES} of {QUERIES} photo(s) answered: {QUERIES} located, 0 failed" in (
        located.stderr
    )
    assert submissions == {"202": QUERIES}  # each photo once, and never a 429 or a 503

    info = subprocess.run(
        [ogrinfo, "-so", "-al", str(out)], capture_output=True, text=True, timeout=60, check=True
    )
    assert f"Feature Count: {QUERIES}" in info.stdout, info.stdout + info.stderr
    assert "Geometry: Point" in info.stdout
    for feature in json.loads(out.read_text())["features"]:
        n = int(Path(feature["properties"]["photo"]).stem.removeprefix("q-"))
        assert feature["properties"]["best_match"] == f"place-{n % PLACES:03d}"
