"""What keeping thumbnails in the reference documents costs Elasticsearch, side by side.

Two versions of one alias with the same references (unit vectors, D = 512), one whose
documents carry a thumbnail and one without, each bulk-loaded with refresh off and
force-merged to one segment. Measured in one run, queries interleaved between the two so
that a busy machine weighs on both alike: load time, size on disk, and the latency of a
search of k = 10 (a kNN hit's whole ``_source`` is read before it is filtered to ``id`` and
``location``, so the thumbnails ride along), then the gateway's read of one thumbnail::

    .venv/bin/python -m bench.thumbnails_in_index --url http://127.0.0.1:9200

Thumbnails are random bytes of the median size measured on real photos (docs/ingestion.md),
as incompressible as a JPEG. Indices are deleted by name at the end.
"""

from __future__ import annotations

import argparse
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from elasticsearch import Elasticsearch
from elasticsearch.exceptions import GeneralAvailabilityWarning
from geopin.geo import LatLon
from geopin.index import Reference
from geopin.index.elasticsearch import ElasticsearchIndex, make_client
from geopin.index.elasticsearch_thumbnails import ElasticsearchThumbnails
from geopin.settings import ElasticsearchSettings

from bench.knn import iid_vectors
from bench.report import Report

DIM, K = 512, 10
THUMBNAIL_BYTES = 7_100
MODEL = "0" * 64
_STORED = ("_source", "_recovery_source")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)) * 1000, float(np.percentile(samples, 95)) * 1000


def _timed(call: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--references", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--prefix", default="bench-thumbs", help="alias name prefix")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = Report()
    rng = np.random.default_rng(7)
    vectors = iid_vectors(rng, args.references, DIM)
    settings = ElasticsearchSettings(url=args.url, index=f"{args.prefix}-{uuid.uuid4().hex[:8]}")
    client = make_client(settings)
    names: dict[str, str] = {}
    try:
        for kind, size in (("without", 0), ("with", THUMBNAIL_BYTES)):
            name = ElasticsearchIndex(client, settings).create_version(DIM, MODEL, live=False)
            names[kind] = name
            index = ElasticsearchIndex(client, settings, target=name)
            refs = (
                Reference(str(i), LatLon(0.0, 0.0), vectors[i], str(i), rng.bytes(size) or None)
                for i in range(args.references)
            )
            load_s = _timed(_load, index, refs)
            report.figures[kind] = {"load_s": round(load_s, 2), **_sizes_mib(client, name)}
        indices = {
            kind: ElasticsearchIndex(client, settings, target=n) for kind, n in names.items()
        }
        latencies: dict[str, list[float]] = {kind: [] for kind in indices}
        for query in iid_vectors(rng, args.queries, DIM):
            for kind, index in indices.items():
                latencies[kind].append(_timed(index.search, query, K, MODEL))
        client.indices.update_aliases(
            actions=[{"add": {"index": names["with"], "alias": settings.index}}]
        )
        thumbnails = ElasticsearchThumbnails(client, settings)
        reads = [_timed(thumbnails.get, str(i)) for i in range(args.queries)]
        _say(report, args, latencies, reads)
    finally:
        if names:
            client.indices.delete(index=",".join(names.values()))
    if args.out:
        report.write(args.out)
    return report


def _sizes_mib(client: Elasticsearch, name: str) -> dict[str, float]:
    """The index on disk, and its two stored copies of documents: ``_source``, and the
    ``_recovery_source`` Elasticsearch keeps while ``_source`` excludes the vector, until a
    merge after the retention lease (12 h) drops it."""
    stats = client.indices.stats(index=name, metric="store").body
    with warnings.catch_warnings():  # "technical preview": fine for a measurement
        warnings.simplefilter("ignore", GeneralAvailabilityWarning)
        usage = client.indices.disk_usage(index=name, run_expensive_tasks=True).body
    fields = usage[name]["fields"]
    sizes = {
        "size_mib": stats["indices"][name]["total"]["store"]["size_in_bytes"],
        **{f"{field}_mib": fields[field]["total_in_bytes"] for field in _STORED if field in fields},
    }
    return {key: round(value / 2**20, 1) for key, value in sizes.items()}


def _load(index: ElasticsearchIndex, refs: Iterable[Reference]) -> None:
    with index.bulk_load(force_merge=True):
        index.add(refs, MODEL)


def _say(
    report: Report, args: argparse.Namespace, latencies: dict[str, list[float]], reads: list[float]
) -> None:
    report.say(f"{args.references} references, D={DIM}, thumbnails of {THUMBNAIL_BYTES} B")
    for kind, figures in report.figures.items():
        p50, p95 = _percentiles(latencies[kind])
        figures.update(search_p50_ms=round(p50, 2), search_p95_ms=round(p95, 2))
        report.say(
            f"{kind:>8} thumbnails: load {figures['load_s']} s, {figures['size_mib']} MiB "
            f"(_source {figures.get('_source_mib', 0)}, _recovery_source "
            f"{figures.get('_recovery_source_mib', 0)}), search k={K} p50 {p50:.2f} ms "
            f"p95 {p95:.2f} ms"
        )
    ratio = report.figures["with"]["search_p50_ms"] / report.figures["without"]["search_p50_ms"]
    size = report.figures["with"]["size_mib"] / report.figures["without"]["size_mib"]
    read_p50, read_p95 = _percentiles(reads)
    report.figures.update(search_p50_ratio=round(ratio, 3), size_ratio=round(size, 2))
    report.figures["thumbnail_get_ms"] = {"p50": round(read_p50, 2), "p95": round(read_p95, 2)}
    report.say(f"with/without: search p50 x{ratio:.3f}, size x{size:.2f}")
    report.say(f"thumbnail read by ID: p50 {read_p50:.2f} ms p95 {read_p95:.2f} ms")


if __name__ == "__main__":
    main()
