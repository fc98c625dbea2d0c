"""The ingestion and kNN benchmarks' code paths on tiny inputs, against the tests' Elasticsearch.

The figures are docs/benchmarks.md's; these tests only check that each path runs, reports
what it should, and deletes the indices it created.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import requests

from bench import ingest_throughput, knn


def _leftovers(es_server: str, prefix: str) -> list[str]:
    found = requests.get(f"{es_server}/{prefix}-*", params={"allow_no_indices": "true"}, timeout=30)
    found.raise_for_status()
    return sorted(found.json())


def test_ingest_benchmark_reports_rate_and_stage_shares(
    es_server: str, model_path: Path, tmp_path: Path
) -> None:
    prefix = f"geopin-test-bench-ingest-{uuid.uuid4().hex[:8]}"
    arguments = ["--url", es_server, "--photos", "4", "--size", "320x240", "--prefix", prefix]
    ingest_throughput.main([*arguments, "--model", str(model_path), "--out", str(tmp_path)])
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
    knn.main(
        [
            "--url", es_server, "--sizes", "60,120", "--dim", "8", "--queries", "4",
            "--warm-up", "1", "--num-candidates", "10,20", "--centres", "4",
            "--index-types", "int8_hnsw,hnsw", "--prefix", prefix, "--out", str(tmp_path),
        ]
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


def test_exact_top_k_ranks_by_dot_product() -> None:
    rng = np.random.default_rng(1)
    data = knn.iid_vectors(rng, 50, 8)
    top = knn.exact_top_k(data, data[:3])
    assert top.shape == (3, knn.K)
    assert top[:, 0].tolist() == [0, 1, 2]  # each vector is its own nearest neighbour
