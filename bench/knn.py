"""Elasticsearch kNN on synthetic unit vectors: recall@10 against exact search, and latency.

Against an Elasticsearch of its own (not the 9200 that tests share)::

    GEOPIN_ES_PORT=9203 GEOPIN_RUN_DIR=/tmp/geopin-h12 GEOPIN_ES_HEAP=2g \\
        scripts/elasticsearch start
    .venv/bin/python -m bench.knn --url http://127.0.0.1:9203 --sizes 10000,30000,100000

For each vector distribution and ``index_options`` type it creates one index with the
project's mapping (:class:`geopin.index.elasticsearch.ElasticsearchIndex`), grows it through
the sizes by bulk loads with refresh off, force-merges it to one segment after each load (one
HNSW graph, as production's ``--force-merge``), then measures at every ``num_candidates``:
recall@10 against numpy brute force on the same vectors, and the latency of single queries,
beside the latency of exact numpy search of one query. Indices are deleted by name at the end.

Two distributions, because iid Gaussian vectors in 512 dimensions are all nearly orthogonal
(every neighbour is about as far as every other), which real embeddings are not: ``iid``, and
``clustered``, a mixture of Gaussians around a few thousand centres, like photos of the same
places.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from elasticsearch import Elasticsearch
from geopin.geo import LatLon
from geopin.index import Reference, reference_key
from geopin.index.elasticsearch import ElasticsearchIndex, make_client
from geopin.settings import ElasticsearchSettings, VectorIndexType

from bench.report import Report

K = 10
Vectors = npt.NDArray[np.float32]
_NOWHERE = LatLon(0.0, 0.0)  # kNN ignores the location the mapping requires
_BENCH_MODEL = "0" * 64  # the _meta model id of the benchmark's indices


def unit_rows(rows: Vectors) -> Vectors:
    normalised: Vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return normalised


def iid_vectors(rng: np.random.Generator, count: int, dim: int) -> Vectors:
    return unit_rows(rng.standard_normal((count, dim), dtype=np.float32))


def clustered_vectors(
    rng: np.random.Generator, count: int, dim: int, centres: Vectors, spread: float
) -> Vectors:
    """Points around random centres; ``spread`` is the noise's norm relative to a centre's."""
    picked = centres[rng.integers(0, len(centres), count)]
    noise = rng.standard_normal((count, dim), dtype=np.float32) * (spread / np.sqrt(dim))
    return unit_rows(picked + noise)


def generate(
    kind: str, count: int, queries: int, dim: int, centres: int, spread: float, seed: int
) -> tuple[Vectors, Vectors]:
    """The indexed vectors and the query vectors, drawn from the same distribution."""
    rng = np.random.default_rng(seed)
    if kind == "iid":
        return iid_vectors(rng, count, dim), iid_vectors(rng, queries, dim)
    middles = iid_vectors(rng, centres, dim)
    return (
        clustered_vectors(rng, count, dim, middles, spread),
        clustered_vectors(rng, queries, dim, middles, spread),
    )


def exact_top_k(data: Vectors, queries: Vectors) -> npt.NDArray[np.int64]:
    """Brute-force top-k by dot product (the cosine of unit vectors), best first."""
    scores = queries @ data.T
    top = np.argpartition(-scores, K, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def exact_latencies_s(data: Vectors, queries: Vectors) -> list[float]:
    """One query at a time, as a service without an index would answer it."""
    latencies = []
    for query in queries:
        started = time.perf_counter()
        scores = data @ query
        top = np.argpartition(-scores, K)[:K]
        top = top[np.argsort(-scores[top])]  # ranked, as a search answers
        latencies.append(time.perf_counter() - started)
    return latencies


@dataclass(frozen=True)
class Point:
    """Recall and latency of one (size, num_candidates) point."""

    recall: float
    client_ms: list[float]  # round trip seen by the Python client
    took_ms: list[int]  # Elasticsearch's own "took"

    def summary(self) -> dict[str, float]:
        return {
            "recall_at_10": round(self.recall, 4),
            "p50_ms": round(float(np.percentile(self.client_ms, 50)), 2),
            "p99_ms": round(float(np.percentile(self.client_ms, 99)), 2),
            "took_p50_ms": float(np.percentile(self.took_ms, 50)),
            "took_p99_ms": float(np.percentile(self.took_ms, 99)),
        }


class KnnIndex:
    """One benchmark index, created with the project's mapping and filled in steps."""

    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings, dim: int) -> None:
        self._es = client
        self._settings = settings
        self._index = ElasticsearchIndex(client, settings)
        self.name = self._index.create_version(dim, _BENCH_MODEL, live=False)
        self._index = ElasticsearchIndex(client, settings, target=self.name)
        self._quantised = settings.index_type != VectorIndexType.HNSW
        self.size = 0
        self._rows: dict[str, int] = {}  # document _id -> row of the vectors, to score hits

    def grow(self, vectors: Vectors, until: int) -> float:
        """Add vectors[size:until] with refresh off, force-merge to one segment; seconds."""
        started = time.perf_counter()
        with self._index.bulk_load(force_merge=True):
            self._index.add(
                (
                    Reference(id=str(i), location=_NOWHERE, vector=vectors[i])
                    for i in range(self.size, until)
                ),
                _BENCH_MODEL,
            )
        self._rows.update({reference_key(str(i)): i for i in range(self.size, until)})
        self.size = until
        return time.perf_counter() - started

    def segments(self) -> int:
        stats = self._es.indices.segments(index=self.name).body
        shards = stats["indices"][self.name]["shards"].values()
        return sum(copy["num_search_segments"] for shard in shards for copy in shard)

    def query(self, vector: Vectors, num_candidates: int) -> tuple[list[int], float, int]:
        """The same kNN clause as the search worker's (without its per-query model check)."""
        knn: dict[str, Any] = {
            "field": "embedding",
            "query_vector": vector.tolist(),
            "k": K,
            "num_candidates": max(K, num_candidates),
        }
        if self._quantised and self._settings.rescore_oversample > 0:
            knn["rescore_vector"] = {"oversample": self._settings.rescore_oversample}
        started = time.perf_counter()
        response = self._es.search(index=self.name, knn=knn, size=K, source=False)
        elapsed_ms = (time.perf_counter() - started) * 1000
        rows = [self._rows[hit["_id"]] for hit in response["hits"]["hits"]]
        return rows, elapsed_ms, response["took"]

    def measure(
        self, queries: Vectors, truth: npt.NDArray[np.int64], num_candidates: int, warm_up: int
    ) -> Point:
        for vector in queries[:warm_up]:
            self.query(vector, num_candidates)
        hits, client_ms, took_ms = [], [], []
        for vector, expected in zip(queries, truth, strict=True):
            found, elapsed, took = self.query(vector, num_candidates)
            hits.append(len(set(found) & set(expected.tolist())) / K)
            client_ms.append(elapsed)
            took_ms.append(took)
        return Point(float(np.mean(hits)), client_ms, took_ms)

    def delete(self) -> None:
        self._es.indices.delete(index=self.name)  # by exact name: wildcards are refused


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:9203", help="Elasticsearch URL")
    parser.add_argument("--sizes", type=_ints, default=[10_000, 30_000, 100_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200, help="measured queries per point")
    parser.add_argument("--warm-up", type=int, default=20, help="untimed queries per point")
    parser.add_argument("--num-candidates", type=_ints, default=[50, 100, 200, 500])
    parser.add_argument("--kinds", default="clustered,iid", help="vector distributions")
    parser.add_argument(
        "--index-types",
        default=ElasticsearchSettings().index_type.value,
        help="dense_vector index_options types, comma-separated (default: the project's)",
    )
    parser.add_argument("--centres", type=int, default=2000, help="clusters of 'clustered'")
    parser.add_argument("--spread", type=float, default=0.75, help="noise norm / centre norm")
    parser.add_argument("--prefix", default="geopin-bench-knn", help="index name prefix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder for results.json and results.txt")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Report:
    args = parse(argv)
    report = Report()
    defaults = ElasticsearchSettings(url=args.url)
    report.say(
        f"kNN benchmark {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}: D={args.dim}, "
        f"k={K}, {args.queries} queries per point after {args.warm_up} warm-up, "
        f"rescore oversample {defaults.rescore_oversample} for quantised types"
    )
    for kind in args.kinds.split(","):
        vectors, queries = generate(
            kind, max(args.sizes), args.queries, args.dim, args.centres, args.spread, args.seed
        )
        for index_type in args.index_types.split(","):
            settings = defaults.model_copy(
                update={"index": f"{args.prefix}-{kind}", "index_type": VectorIndexType(index_type)}
            )
            index = KnnIndex(make_client(settings), settings, args.dim)
            try:
                for size in sorted(args.sizes):
                    _measure_size(report, args, kind, index_type, index, vectors, queries, size)
            finally:
                index.delete()
    if args.out:
        report.write(args.out)
    return report


def _measure_size(
    report: Report,
    args: argparse.Namespace,
    kind: str,
    index_type: str,
    index: KnnIndex,
    vectors: Vectors,
    queries: Vectors,
    size: int,
) -> None:
    added = size - index.size
    load_s = index.grow(vectors, size)
    data = vectors[:size]
    truth = exact_top_k(data, queries)
    exact = exact_latencies_s(data, queries)
    key = f"{kind} {index_type} {size}"
    figures: dict[str, Any] = {
        "load_s": round(load_s, 1),
        "added": added,
        "segments": index.segments(),
        "exact_numpy_p50_ms": round(float(np.percentile(exact, 50)) * 1000, 2),
        "exact_numpy_p99_ms": round(float(np.percentile(exact, 99)) * 1000, 2),
    }
    report.say(
        f"\n{key}: +{added} vectors loaded and force-merged in {load_s:.1f} s "
        f"({added / load_s:.0f} vectors/s), {figures['segments']} segment(s); exact numpy "
        f"p50 {figures['exact_numpy_p50_ms']} ms, p99 {figures['exact_numpy_p99_ms']} ms"
    )
    report.say(f"{'num_candidates':>15}{'recall@10':>11}{'p50 ms':>9}{'p99 ms':>9}{'took p50':>10}")
    for num_candidates in args.num_candidates:
        point = index.measure(queries, truth, num_candidates, args.warm_up).summary()
        figures[f"num_candidates_{num_candidates}"] = point
        report.say(
            f"{num_candidates:>15}{point['recall_at_10']:>11.4f}{point['p50_ms']:>9.2f}"
            f"{point['p99_ms']:>9.2f}{point['took_p50_ms']:>10.1f}"
        )
    report.figures[key] = figures


if __name__ == "__main__":
    main()
