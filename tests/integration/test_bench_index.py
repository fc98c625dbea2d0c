"""The ingestion, kNN and thumbnail-cost benchmarks' code paths on tiny inputs, against the
tests' Elasticsearch.

The figures are docs/benchmarks.md's; these tests only check that each path runs, reports
what it should, and deletes the indices it created.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _run_bench(module: str, *arguments: str) -> None:
    # As a program, the way it is run for the figures: tests never import bench/.
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _leftovers(es_server: str, prefix: str) -> list[str]:
    found = requests.get(f"{es_server}/{prefix}-*", params={"allow_no_indices": "true"}, timeout=30)
    found.raise_for_status()
    return sorted(found.json())


def test_ingest_benchmark_reports_rate_and_stage_shares(
    es_server: str, model_path: Path, tmp_path: Path
) -> None:
    prefix = f"geopin-test-bench-ingest-{uuid.uuid4().hex[:8]}"
    arguments = ["--url", es_server, "--photos", "4", "--size", "320x240", "--prefix", prefix]
    _run_bench("ingest_throughput", *arguments, "--model", str(model_path), "--out", str(tmp_path))
    figures = json.loads((tmp_path / "results.json").read_text())
    assert figures["photos"] == 4
    assert figures["indexed"] + figures["refused"] == 4
    assert figures["photos_per_s"] > 0
    assert {"read", "decode", "embed", "write", "other"} <= set(figures["stage_share"])
    assert 0.99 < sum(figures["stage_share"].values()) < 1.01
    assert "photos/s" in (tmp_path / "results.txt").read_text()
    assert _leftovers(es_server, prefix) == []


def test_knn_benchmark_measures_every_point_beside_exact_search(
    es_server: str, tmp_path: Path
) -> None:
    prefix = f"geopin-test-bench-knn-{uuid.uuid4().hex[:8]}"
    _run_bench(
        "knn",
        "--url", es_server, "--sizes", "60,120", "--dim", "8", "--queries", "4",
        "--warm-up", "1", "--num-candidates", "10,20", "--centres", "4",
        "--index-types", "int8_hnsw,hnsw", "--prefix", prefix, "--out", str(tmp_path),
    )  # fmt: skip
    figures = json.loads((tmp_path / "results.json").read_text())
    for kind in ("clustered", "iid"):
        for index_type in ("int8_hnsw", "hnsw"):
            for size in (60, 120):
                point = figures[f"{kind} {index_type} {size}"]
                assert point["segments"] == 1  # force-merged before measuring
                assert point["added"] == 60
                assert point["exact_numpy_p50_ms"] >= 0
                for candidates in (10, 20):
                    measured = point[f"num_candidates_{candidates}"]
                    assert 0 <= measured["recall_at_10"] <= 1
                    assert measured["p50_ms"] <= measured["p99_ms"]
    assert _leftovers(es_server, prefix) == []


def test_thumbnail_benchmark_measures_both_indices_side_by_side(
    es_server: str, tmp_path: Path
) -> None:
    prefix = f"geopin-test-bench-thumbs-{uuid.uuid4().hex[:8]}"
    arguments = ["--url", es_server, "--references", "30", "--queries", "3", "--prefix", prefix]
    _run_bench("thumbnails_in_index", *arguments, "--out", str(tmp_path))
    figures = json.loads((tmp_path / "results.json").read_text())
    assert figures["with"]["size_mib"] > figures["without"]["size_mib"]
    for kind in ("with", "without"):
        assert 0 < figures[kind]["search_p50_ms"] <= figures[kind]["search_p95_ms"]
    assert figures["search_p50_ratio"] > 0
    assert figures["thumbnail_get_ms"]["p50"] > 0
    assert _leftovers(es_server, prefix) == []
