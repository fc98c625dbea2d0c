"""Ingestion throughput (photos/s) and the share of time per stage, through the real path.

Against a running Elasticsearch (an index of its own is created and deleted by name)::

    .venv/bin/python -m bench.ingest_throughput --url http://127.0.0.1:9203 --photos 300

It writes generated geotagged JPEGs and their CSV manifest, then loads them as
``geopin index add`` does in-process: the manifest read by :func:`geopin.ingest.read_source`,
the seeded ResNet-18 (D = 512) that a first ``scripts/up`` deploys, or ``--model``,
a new versioned index behind an alias, refresh off during the load, and
:class:`geopin.ingest.run.Ingestion` with quality control and near-duplicate checks on. The
stage times are the ones the run's summary records; what they leave out (bookkeeping,
waiting between stages) is shown as ``other``. Loading the model happens before the clock
starts: it is paid once per process, not per photo.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from geopin.index.elasticsearch import make_client, numbered_versions
from geopin.ingest import read_source
from geopin.ingest.outcomes import Outcome
from geopin.ingest.run import Ingestion
from geopin.model.embedder import Embedder
from geopin.settings import Settings
from geopin.wiring import vector_index
from geopin_tools.model.seeded import write_seeded_model

from bench.report import Report
from tests.support.factories import encode, place_location, place_photo


def write_photos(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """``count`` distinct geotagged JPEGs about 100 m apart, and their manifest."""
    lines = ["path,lat,lon,id"]
    for seed in range(count):
        name = f"photo-{seed:05d}.jpg"
        (folder / name).write_bytes(encode(place_photo(seed, size), quality=90))
        lat, lon = place_location(seed)
        lines.append(f"{name},{lat:.6f},{lon:.6f},{name}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:9203", help="Elasticsearch URL")
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--size", default="640x480", help="photo size, WxH")
    parser.add_argument("--model", type=Path, help="ONNX model (default: the seeded ResNet-18)")
    parser.add_argument("--prefix", default="geopin-bench-ingest", help="alias name prefix")
    parser.add_argument("--out", type=Path, help="folder for results.json and results.txt")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Report:
    args = parse(argv)
    width, height = (int(v) for v in args.size.split("x"))
    report = Report()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        manifest = write_photos(folder, args.photos, (width, height))
        model = args.model
        if model is None:
            model = folder / "seeded.onnx"
            write_seeded_model(model)
        alias = f"{args.prefix}-{uuid.uuid4().hex[:8]}"
        overrides = {
            "elasticsearch": {"url": args.url, "index": alias},
            "model": {"path": model},
        }
        settings = Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates them
        embedder = Embedder(settings.model, settings.images)
        info = embedder.info  # loads the model before the clock starts
        target = vector_index(settings)
        client = make_client(settings.elasticsearch)
        try:
            target.ensure(info.dim, info.model_id)
            candidates = read_source(manifest, None)
            refused: list[Outcome] = []

            def record(outcome: Outcome) -> None:
                if outcome.refused:
                    refused.append(outcome)

            started = time.perf_counter()
            with target.bulk_load():
                ingestion = Ingestion(settings, embedder, target, info.model_id, record)
                summary = ingestion.run(candidates)
            wall_s = time.perf_counter() - started
        finally:
            names = [name for _, name in numbered_versions(client, alias)]
            if names:
                client.indices.delete(index=",".join(names))  # by name: wildcards are refused
    figures = summary.public()
    stages = dict(figures["stage_s"])
    stages["other"] = max(0.0, wall_s - sum(stages.values()))
    figures.update(
        wall_s=round(wall_s, 2),
        photos_per_s=round(figures["photos"] / wall_s, 2),
        stage_share={name: round(s / wall_s, 4) for name, s in stages.items()},
        refused_examples=[o.record() for o in refused[:5]],
    )
    report.figures = figures
    report.say(
        f"ingestion {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}: {figures['photos']} "
        f"{width}x{height} JPEG(s), model {info.model_id[:12]} D={info.dim}, "
        f"batch {settings.ingest.batch_size}"
    )
    report.say(
        f"{figures['indexed']} indexed, {figures['refused']} refused "
        f"{figures['refused_by_reason']} in {wall_s:.1f} s: {figures['photos_per_s']} photos/s"
    )
    report.say(f"{'stage':<12}{'s':>9}{'share':>8}{'ms/photo':>10}")
    for name, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        report.say(
            f"{name:<12}{seconds:>9.2f}{seconds / wall_s:>8.1%}"
            f"{seconds / max(1, figures['photos']) * 1000:>10.1f}"
        )
    if args.out:
        report.write(args.out)
    return report


if __name__ == "__main__":
    main()
