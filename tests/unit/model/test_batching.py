from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from geopin.model.batching import MicroBatcher, Pixels


class RecordingModel:
    """Sums each image's pixels; refuses any batch holding an image of NaNs."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batch_shapes: list[tuple[int, ...]] = []
        self._gate = gate
        self.entered = threading.Event()

    def __call__(self, batch: Pixels) -> Pixels:
        self.entered.set()
        if self._gate is not None:
            self._gate.wait(5)
        self.batch_shapes.append(batch.shape)
        if np.isnan(batch).any():
            raise ValueError("NaN input")
        return batch.reshape(len(batch), -1).sum(axis=1, keepdims=True)


def _image(value: float, height: int = 4, width: int = 4) -> Pixels:
    return np.full((3, height, width), value, dtype=np.float32)


def test_requests_queued_together_share_one_inference_call() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = MicroBatcher(model, max_batch=8, max_wait_s=0.05)
    blocker = batcher.submit(_image(0))  # holds the model while the others queue up
    assert model.entered.wait(5)
    futures = [batcher.submit(_image(i)) for i in range(1, 7)]
    gate.set()
    assert [f.result(5)[0] for f in futures] == [48.0 * i for i in range(1, 7)]
    assert blocker.result(5)[0] == 0.0
    batcher.close()
    assert model.batch_shapes[-1] == (6, 3, 4, 4)


def test_a_batch_never_exceeds_max_batch() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = MicroBatcher(model, max_batch=4, max_wait_s=0.05)
    futures = [batcher.submit(_image(i)) for i in range(10)]
    gate.set()
    for f in futures:
        f.result(5)
    batcher.close()
    assert max(shape[0] for shape in model.batch_shapes) == 4
    assert sum(shape[0] for shape in model.batch_shapes) == 10


def test_images_of_different_shapes_run_in_separate_calls() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = MicroBatcher(model, max_batch=8, max_wait_s=0.05)
    batcher.submit(_image(0))
    assert model.entered.wait(5)
    futures = [
        batcher.submit(_image(1, 4, 6)),
        batcher.submit(_image(1)),
        batcher.submit(_image(1, 4, 6)),
    ]
    gate.set()
    assert [f.result(5)[0] for f in futures] == [72.0, 48.0, 72.0]
    batcher.close()
    assert sorted(model.batch_shapes[-2:]) == [(1, 3, 4, 4), (2, 3, 4, 6)]


def test_one_bad_image_fails_alone() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = MicroBatcher(model, max_batch=8, max_wait_s=0.05)
    futures = [batcher.submit(_image(v)) for v in (1.0, float("nan"), 2.0)]
    gate.set()
    assert futures[0].result(5)[0] == 48.0
    assert futures[2].result(5)[0] == 96.0
    with pytest.raises(ValueError, match="NaN input"):
        futures[1].result(5)
    batcher.close()


def test_a_lone_request_waits_no_longer_than_max_wait() -> None:
    batcher = MicroBatcher(RecordingModel(), max_batch=8, max_wait_s=0.05)
    started = time.monotonic()
    batcher.submit(_image(1)).result(5)
    assert time.monotonic() - started < 1.0
    batcher.close()


def test_close_finishes_what_was_queued() -> None:
    gate = threading.Event()
    batcher = MicroBatcher(RecordingModel(gate), max_batch=2, max_wait_s=0.0)
    futures = [batcher.submit(_image(1)) for _ in range(5)]
    gate.set()
    batcher.close()
    assert all(f.done() and not f.exception() for f in futures)


def test_a_request_with_nothing_else_coming_runs_without_waiting_for_companions() -> None:
    # A wait of a minute would show; nothing is on its way, so the batch runs at once.
    batcher = MicroBatcher(RecordingModel(), max_batch=8, max_wait_s=60, coming=lambda: 0)
    assert batcher.submit(_image(1)).result(30) == pytest.approx([48.0])
    batcher.close()


def test_a_batch_waits_for_a_photo_that_is_still_being_decoded() -> None:
    model = RecordingModel()
    coming = [1]
    batcher = MicroBatcher(model, max_batch=8, max_wait_s=60, coming=lambda: coming[0])
    first = batcher.submit(_image(1))
    time.sleep(0.2)  # the batcher waits: one more is on its way
    assert not first.done()
    coming[0] = 0
    second = batcher.submit(_image(2))
    assert first.result(30) == pytest.approx([48.0])
    assert second.result(30) == pytest.approx([96.0])
    assert model.batch_shapes == [(2, 3, 4, 4)]
    batcher.close()


def test_a_call_carries_no_more_pixels_than_the_cap_but_a_larger_image_still_runs() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    # 4x4 images: three fit a cap of 50 pixels; a 4x16 image (64 pixels) is above it alone.
    batcher = MicroBatcher(model, max_batch=8, max_wait_s=0.05, max_batch_pixels=50)
    batcher.submit(_image(0))
    assert model.entered.wait(5)
    futures = [batcher.submit(_image(1)) for _ in range(7)] + [batcher.submit(_image(1, 4, 16))]
    gate.set()
    assert [f.result(5)[0] for f in futures] == [48.0] * 7 + [192.0]
    batcher.close()
    assert sorted(model.batch_shapes[1:]) == [
        (1, 3, 4, 4),
        (1, 3, 4, 16),
        (3, 3, 4, 4),
        (3, 3, 4, 4),
    ]
