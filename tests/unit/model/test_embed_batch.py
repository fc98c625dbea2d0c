"""Embedder.embed_batch: same-shape photos share inference calls, results match embed()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from geopin.images import decode_image, resized_for_model, to_model_input
from geopin.model.embedder import Embedder
from geopin.settings import ImageSettings, ModelSettings
from geopin_tools.model.seeded import write_seeded_model

from tests.support.factories import encode, place_photo

IMAGES = ImageSettings(shorter_side=64, max_side=128)


def test_batches_group_equal_shapes_and_agree_with_single_embeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.onnx"
    write_seeded_model(model)
    embedder = Embedder(ModelSettings(path=model, intra_op_threads=1, max_batch=2), IMAGES)
    sizes = [(320, 240), (240, 320), (320, 240), (320, 240)]  # three landscape, one portrait
    photos = [encode(place_photo(i, size)) for i, size in enumerate(sizes)]
    pixels = [
        to_model_input(resized_for_model(decode_image(p, IMAGES.max_pixels), IMAGES))
        for p in photos
    ]
    batch_sizes: list[int] = []
    run = embedder.session.run

    def counting_run(batch: np.ndarray) -> np.ndarray:
        batch_sizes.append(batch.shape[0])
        return run(batch)

    monkeypatch.setattr(embedder.session, "run", counting_run)
    vectors = embedder.embed_batch(pixels)
    assert sorted(batch_sizes) == [1, 1, 2]  # landscape 2 + 1 (max_batch 2), portrait 1
    monkeypatch.setattr(embedder.session, "run", run)
    for photo, vector in zip(photos, vectors, strict=True):
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        assert float(np.dot(vector, embedder.embed(photo).vector)) > 0.99999
