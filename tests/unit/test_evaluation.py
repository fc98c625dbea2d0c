"""Recall@N by the VPR protocol, checked against an independent brute-force computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from geopin.cli import main
from geopin.model.embedder import Embedder
from geopin.settings import ImageSettings, ModelSettings
from geopin_tools.evaluation.recall import Ranking, exact_ranking, load_dataset, score
from geopin_tools.model.seeded import write_seeded_model
from PIL import Image

from tests.support.factories import UTM_EAST, write_vpr_dataset

# Queries: exact copies of database photos 2 and 5 (0 and 3 m away), a photo of its own
# 12 m from database photo 7 (a positive exists; whether it is found is up to the model),
# and one 5 km away from everything (no positive: a miss at every N, by the protocol).
QUERIES: list[tuple[int | None, float]] = [(2, 0.0), (5, 3.0), (7, 12.0), (None, 5000.0)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vpr") / "tiny"
    queries = [(copy, offset) if copy != 7 else (None, 40 * 7 + offset) for copy, offset in QUERIES]
    return write_vpr_dataset(root, 12, queries)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "seeded.onnx"
    write_seeded_model(path)
    return path


def test_exact_ranking_orders_by_l2_distance() -> None:
    rng = np.random.default_rng(0)
    database = rng.normal(size=(50, 8)).astype(np.float32)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    expected = [np.argsort([float(np.sum((d - q) ** 2)) for d in database])[:20] for q in queries]
    assert exact_ranking(database, queries, 20).tolist() == [e.tolist() for e in expected]


def test_queries_without_positive_count_as_misses(dataset: Path) -> None:
    data = load_dataset(dataset)
    # A perfect ranking: each query's nearest database photo by position first.
    east = [UTM_EAST + 40 * i for i in range(len(data.database))]
    rankings = [
        Ranking(
            sorted(range(len(east)), key=lambda i, q=q: abs(data.database[i].east - q.east)),
            q.location,
        )
        for q in data.queries
    ]
    results = score(data, rankings)
    assert results["queries_without_positive"] == 1
    assert results["recall_percent"] == {"1": 75.0, "5": 75.0, "10": 75.0, "20": 75.0}
    assert results["estimate_within_percent"]["consensus"]["25m"] == 100.0


def test_eval_command_matches_an_independent_brute_force(
    dataset: Path, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOPIN_MODEL__PATH", str(model))
    monkeypatch.setenv("GEOPIN_MODEL__INTRA_OP_THREADS", "1")
    monkeypatch.setenv("GEOPIN_IMAGES__SHORTER_SIDE", "128")  # small inputs keep the test fast
    result = CliRunner().invoke(main, ["eval", str(dataset), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    reported = json.loads((tmp_path / "out" / "results.json").read_text())
    with Image.open(tmp_path / "out" / "recall.png") as plot:
        assert plot.size == (640, 420)

    # Independently: one photo at a time through the public embed(), every distance computed,
    # UTM positions parsed here from the names, positives and recall counted by hand.
    embedder = Embedder(
        ModelSettings(path=model, intra_op_threads=1, max_batch=1), ImageSettings(shorter_side=128)
    )
    db_paths = sorted((dataset / "images/test/database").iterdir())
    q_paths = sorted((dataset / "images/test/queries").iterdir())
    db = np.stack([embedder.embed(p.read_bytes()).vector for p in db_paths]).astype(np.float64)
    qs = np.stack([embedder.embed(p.read_bytes()).vector for p in q_paths]).astype(np.float64)

    def utm(path: Path) -> tuple[float, float]:
        fields = path.name.split("@")
        return float(fields[1]), float(fields[2])

    hits = dict.fromkeys((1, 5, 10, 20), 0)
    for query, q_path in zip(qs, q_paths, strict=True):
        order = np.argsort(((db - query) ** 2).sum(axis=1), kind="stable")
        qe, qn = utm(q_path)
        is_positive = [np.hypot(utm(p)[0] - qe, utm(p)[1] - qn) <= 25 for p in db_paths]
        for n in hits:
            hits[n] += any(is_positive[i] for i in order[:n])
    expected = {str(n): round(100 * h / len(q_paths), 2) for n, h in hits.items()}
    assert reported["recall_percent"] == expected
    # The two byte-exact copies are always found first; the far query never is.
    assert 50.0 <= reported["recall_percent"]["1"] <= 75.0
    assert reported["recall_percent"]["20"] == 75.0


def test_a_folder_that_is_not_a_dataset_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "images/test/database/" in result.output
    assert "Traceback" not in result.output
