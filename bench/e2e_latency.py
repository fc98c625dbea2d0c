"""End-to-end latency of one job, split by stage, against a running GeoPin.

Start the stack first (``scripts/up``), then, with the same settings::

    GEOPIN_MODE=servers .venv/bin/python -m bench.e2e_latency --jobs 30

It indexes a generated reference set into the configured index (same GEOPIN_*
settings as the stack), submits jobs one at a time, polls every 5 ms, and prints
the median and 90th percentile of each stage as recorded by the workers
(``result.timings``) next to the latency the client saw.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.support.factories import encode, place_photo, write_reference_set

STAGES = ("queued_s", "embed_s", "handoff_s", "search_s")


def run_job(url: str, photo: bytes) -> dict[str, float]:
    started = time.perf_counter()
    response = requests.post(
        f"{url}/v1/jobs", data=photo, headers={"Content-Type": "image/jpeg"}, timeout=30
    )
    response.raise_for_status()
    accepted = time.perf_counter()
    job_url = url + response.json()["links"]["self"]
    while True:
        job = requests.get(job_url, timeout=30).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.005)
    if job["status"] != "succeeded":
        raise SystemExit(f"job failed: {job['error']}")
    return {
        "submit_s": accepted - started,
        **job["result"]["timings"],
        "client_total_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("GEOPIN_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--references", type=int, default=200)
    parser.add_argument("--size", default="640x480", help="query photo size, WxH")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory() as folder:
        manifest = write_reference_set(Path(folder), args.references)
        report = Path(folder) / "ingest-report.jsonl"  # not into the caller's folder
        command = ["index", "add", str(manifest), "--report", str(report)]
        subprocess.run([sys.executable, "-m", "geopin.cli", *command], check=True)

    photos = [encode(place_photo(1000 + i, (width, height)), quality=90) for i in range(args.jobs)]
    run_job(args.url, photos[0])  # warm-up: first-use costs are not what we measure
    runs = [run_job(args.url, photo) for photo in photos]

    print(f"{args.jobs} jobs, one at a time, query {width}x{height} JPEG, {args.references} refs")
    print(f"{'stage':<16}{'median ms':>12}{'p90 ms':>10}")
    for stage in ("submit_s", *STAGES, "client_total_s"):
        values = sorted(r[stage] for r in runs)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        print(f"{stage:<16}{statistics.median(values) * 1000:>12.1f}{p90 * 1000:>10.1f}")


if __name__ == "__main__":
    main()
