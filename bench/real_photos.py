"""Place recognition on real photographs: the seeded network against the default model.

Each photograph (:mod:`bench.wallpapers`) is cut into a grid of tiles; each tile is a "place"
and its reference photo. A query per place looks at the same spot as someone else would
photograph it (see :func:`query`): ``mild``, a small shift; ``strong``, a large shift and zoom
plus one strong change (light, colour cast, blur, an occluding object or JPEG 25, in turn);
``all-strong``, the large shift and all five changes at once. Recall@N is the share of queries
whose own place is among the N nearest references (cosine similarity). Tiles of one
photograph look alike (sky, grass, water), which is what makes the task hard.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import requests
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from bench.wallpapers import fetch, photos
from tests.factories import encode

Box = tuple[int, int, int, int]
PHOTO_WIDTH = 1536  # photographs are resized to this width before tiling
STRENGTHS = ("mild", "strong", "all-strong")


@dataclass(frozen=True)
class Place:
    """One tile: which photograph and where in it."""

    name: str
    photo: Image.Image
    box: Box


def places(paths: Sequence[Path], columns: int, rows: int) -> list[Place]:
    """Every tile of every photograph, each a place of its own."""
    found = []
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        height = round(image.height * PHOTO_WIDTH / image.width)
        image = image.resize((PHOTO_WIDTH, height), Image.Resampling.LANCZOS)
        width, tile_height = PHOTO_WIDTH // columns, height // rows
        for row in range(rows):
            for column in range(columns):
                left, top = column * width, row * tile_height
                box = (left, top, left + width, top + tile_height)
                found.append(Place(f"{path.parent.name}-{path.stem}-{row}{column}", image, box))
    return found


def reference(place: Place) -> bytes:
    return encode(place.photo.crop(place.box), quality=92)


def query(place: Place, strength: str, seed: int) -> bytes:
    """The place seen again, always from a shifted and zoomed view.

    ``mild``: a small shift, light blur, JPEG 70. ``strong``: a large shift plus one strong
    change, taking turns over the places: light, colour cast, blur, an occluding object, JPEG
    25. ``all-strong``: the large shift and every strong change at once.
    """
    rng = np.random.default_rng(seed)
    if strength == "mild":
        view = _shifted(place, rng, shift=0.05, zoom=0.95)
        return encode(view.filter(ImageFilter.GaussianBlur(0.8)), quality=70)
    view = _shifted(place, rng, shift=0.15, zoom=0.85)
    changes = _STRONG_CHANGES if strength == "all-strong" else [_STRONG_CHANGES[seed % 5]]
    quality = 92
    for change in changes:
        if change is None:
            quality = 25
        else:
            view = change(view, rng)
    return encode(view, quality=quality)


def _shifted(place: Place, rng: np.random.Generator, shift: float, zoom: float) -> Image.Image:
    """The tile's view moved by ``shift`` of its size diagonally and zoomed in to ``zoom``."""
    left, top, right, bottom = place.box
    width, height = right - left, bottom - top
    dx = int(rng.choice([-1, 1]) * shift * width)
    dy = int(rng.choice([-1, 1]) * shift * height)
    crop_w, crop_h = int(width * zoom), int(height * zoom)
    x0 = int(np.clip(left + dx + (width - crop_w) // 2, 0, place.photo.width - crop_w))
    y0 = int(np.clip(top + dy + (height - crop_h) // 2, 0, place.photo.height - crop_h))
    return place.photo.crop((x0, y0, x0 + crop_w, y0 + crop_h)).resize((width, height))


def _light(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Brightness(view).enhance(float(rng.choice([0.6, 1.4])))


def _colour(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Half the saturation and a warm or cold cast."""
    gains = np.array([1.12, 0.97, 0.85]) if rng.random() < 0.5 else np.array([0.85, 0.97, 1.12])
    pale = np.asarray(ImageEnhance.Color(view).enhance(0.5), np.float32)
    return Image.fromarray(np.clip(pale * gains, 0, 255).astype(np.uint8))


def _blur(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    return view.filter(ImageFilter.GaussianBlur(2.0))


def _occlude(view: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A solid object (a passer-by, a sign) over a sixth of the picture, somewhere random."""
    covered = view.copy()
    w, h = int(view.width * 0.45), int(view.height * 0.45)
    x, y = int(rng.integers(0, view.width - w)), int(rng.integers(0, view.height - h))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    ImageDraw.Draw(covered).ellipse((x, y, x + w, y + h), fill=colour)
    return covered


# The strong changes in turn; None stands for JPEG quality 25, applied when encoding.
_STRONG_CHANGES: list[Callable[[Image.Image, np.random.Generator], Image.Image] | None] = [
    _light,
    _colour,
    _blur,
    _occlude,
    None,
]


def recall(similarity: npt.NDArray[np.float64], at: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Share of queries (rows) whose own reference (same index) is among the N most similar."""
    ranks = np.argsort(-similarity, axis=1)
    truth = np.arange(similarity.shape[0])[:, None]
    return {n: float(np.mean(np.any(ranks[:, :n] == truth, axis=1))) for n in at}


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
