"""Place recognition on real photographs: the seeded network against the default model.

Each photograph (:mod:`tests.support.wallpapers`) is cut into a grid of tiles; each tile is a
"place" and its reference photo. A query per place looks at the same spot as someone else would
photograph it (see :func:`tests.support.real_photos.query`): ``mild``, a small shift;
``strong``, a large shift and zoom plus one strong change (light, colour cast, blur, an
occluding object or JPEG 25, in turn); ``all-strong``, the large shift and all five changes at
once. Recall@N is the share of queries whose own place is among the N nearest references
(cosine similarity). Tiles of one photograph look alike (sky, grass, water), which is what
makes the task hard.

Both models embed exactly as the embedding worker does (``geopin.images.preprocess`` with the
default settings, then ONNX Runtime)::

    .venv/bin/python -m bench.real_photos                       # both models, in process
    .venv/bin/python -m bench.real_photos --service http://127.0.0.1:8093   # a running GeoPin

With ``--service``, the references are indexed with ``geopin index add`` (the same GEOPIN_*
settings as that stack) and every query goes through the gateway as a job.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import requests

from tests.support.real_photos import STRENGTHS, Place, places, query, recall, reference
from tests.support.wallpapers import fetch, photos


def embedder(model: Path) -> Callable[[bytes], npt.NDArray[np.float32]]:
    """Photo bytes to a unit vector, as the embedding worker computes it."""
    from geopin.images import preprocess
    from geopin.model.session import OnnxSession
    from geopin.settings import ImageSettings, ModelSettings

    session = OnnxSession(ModelSettings(path=model, providers=["CPUExecutionProvider"]))
    settings = ImageSettings()

    def embed(data: bytes) -> npt.NDArray[np.float32]:
        (vector,) = session.run(preprocess(data, settings)[np.newaxis])
        unit: npt.NDArray[np.float32] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return unit

    return embed


def offline(models: dict[str, Path], tiles: list[Place]) -> None:
    """Recall of each model on each strength, embedded here."""
    print(f"{len(tiles)} places; recall of the query's own place among the nearest references")
    print(f"{'model':<36}{'queries':>9}{'R@1':>8}{'R@5':>8}{'ms/photo':>10}")
    for label, path in models.items():
        embed = embedder(path)
        started = time.perf_counter()
        references = np.stack([embed(reference(place)) for place in tiles])
        per_photo_ms = (time.perf_counter() - started) * 1000 / len(tiles)
        for strength in STRENGTHS:
            queries = np.stack([embed(query(p, strength, i)) for i, p in enumerate(tiles)])
            found = recall(queries.astype(np.float64) @ references.T)
            print(f"{label:<36}{strength:>9}{found[1]:>8.3f}{found[5]:>8.3f}{per_photo_ms:>10.0f}")


def through_service(url: str, tiles: list[Place], strength: str) -> None:
    """Index the references with ``geopin index add``, then submit every query as a job."""
    from geopin.client import GeoPinClient

    client = GeoPinClient(url)
    with tempfile.TemporaryDirectory() as folder:
        lines = ["path,lat,lon,id"]
        for number, place in enumerate(tiles):
            (Path(folder) / f"{number:04d}.jpg").write_bytes(reference(place))
            lines.append(f"{number:04d}.jpg,{number // 100:.4f},{number % 100:.4f},{place.name}")
        manifest = Path(folder) / "manifest.csv"
        manifest.write_text("\n".join(lines) + "\n")
        report = Path(folder) / "report.jsonl"
        # Tiles of one photograph may look alike or soft: the point is recall, not curation.
        flags = ["--no-quality", "--no-dedup", "--report", str(report)]
        command = [sys.executable, "-m", "geopin.cli", "index", "add", str(manifest), *flags]
        subprocess.run(command, check=True, env=os.environ)
    started = time.perf_counter()
    jobs = [client.submit(query(p, strength, i), top_k=5) for i, p in enumerate(tiles)]
    hits = {1: 0, 5: 0}
    for place, job_id in zip(tiles, jobs, strict=True):
        job = client.wait(job_id, 600)
        if job["status"] != "succeeded":
            raise SystemExit(f"job {job_id} failed: {job.get('error')}")
        ids = [match["id"] for match in job["result"]["matches"]]
        hits[1] += ids[:1] == [place.name]
        hits[5] += place.name in ids[:5]
    seconds = time.perf_counter() - started
    ready = requests.get(f"{url}/readyz", timeout=30).json()
    (model,) = ready["checks"]["model"]["loaded"]
    print(f"service {url}: {len(tiles)} {strength} queries as jobs in {seconds:.0f} s")
    print(f"model {model['model_id'][:12]} ({model['backbone']}, {model.get('kind')})")
    print(f"R@1 {hits[1] / len(tiles):.3f}  R@5 {hits[5] / len(tiles):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench/wallpapers"))
    parser.add_argument("--grid", default="3x2", help="tiles per photograph, COLUMNSxROWS")
    parser.add_argument("--service", help="a running gateway: measure through it instead")
    parser.add_argument("--strength", choices=STRENGTHS, default="strong", help="with --service")
    args = parser.parse_args()
    columns, rows = (int(n) for n in args.grid.split("x"))
    tiles = places(photos(fetch(args.cache)), columns, rows)
    if args.service:
        through_service(args.service, tiles, args.strength)
        return
    from geopin_tools.model.default_model import ensure_default_model
    from geopin_tools.model.seeded import write_seeded_model

    seeded = args.cache / "seeded-resnet18.onnx"
    if not seeded.exists():
        write_seeded_model(seeded)
    offline(
        {
            "seeded untrained (ResNet-18, 512)": seeded,
            "default (EfficientNet-Lite0, 1280)": ensure_default_model(args.cache / "models"),
        },
        tiles,
    )


if __name__ == "__main__":
    main()
